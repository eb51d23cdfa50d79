"""Where the field's hash grid lies: scene points -> grid coordinates in [0, 1]^3.

- box: the normalised scene box [-1, 1]^3 (captures all around an object).
- ndc: the normalised device coordinates of the capture's mean camera (forward-facing captures).
  x and y are the mean view's image coordinates and z is linear in disparity from its near bound
  to infinity, so the grid's cells have the same size on screen at every depth and a distant or
  unbounded background costs the table no more than the foreground (LLFF / NeRF's NDC, applied to
  the points the field is queried at; rays, samples and depths stay metric).

Both are pure functions of the points and a tuple of constants (hashable: a flax attribute).
"""
import jax.numpy as jnp
import numpy as np

from macro_nerf.nerf import camera

WARPS = ("box", "ndc")


def box_to_grid(x):
  """Normalised scene coordinates [-1, 1]^3 -> hash grid coordinates [0, 1]^3; (..., 3)."""
  return 0.5 * (x + 1.0)


def ndc_constants(c2w, intrinsics, height, width, near, margin=0.3, far=None):
  """The ndc warp's constants for cameras c2w (N, 3, 4), intrinsics (N, 4), near (N,) (normalised
  scene units): the mean camera, its focal lengths over the half image size, a near bound a
  little in front of every view's, and the margin left around the mean view's frustum (the other
  views see a little beyond it). A tuple of floats.

  With far (N,), the screen axes are instead scaled, and the near bound lowered, so that every
  view's frustum between its near and far bounds fits in the grid exactly: a capture whose
  views spread wider than the fixed margin would otherwise have the edges of its side views
  clipped to the grid's faces.
  """
  ref = camera.mean_camera(c2w)
  cos = np.einsum("ni,i->n", np.asarray(c2w, np.float64)[:, :, 2], ref[:, 2])
  if np.min(cos) < 0.5:
    raise ValueError(f"model.warp='ndc' needs a forward-facing capture, but a view looks "
                     f"{np.degrees(np.arccos(np.min(cos))):.0f} degrees away from the mean view "
                     f"(use --config.model.warp=box, e.g. --config=object)")
  intr = np.asarray(intrinsics, np.float64)
  ax, ay = 2.0 * np.median(intr[:, 0]) / width, 2.0 * np.median(intr[:, 1]) / height
  depth_near = 0.8 * float(np.min(near))
  if far is not None:
    corners = camera.frustum_corners(np.asarray(c2w, np.float64), intr, height, width,
                                     np.asarray(near, np.float64), np.asarray(far, np.float64))
    cam = (corners.reshape(-1, 3) - ref[:, 3]) @ ref[:, :3]
    ahead = -cam[:, 2] > 0.0
    depth_near = min(depth_near, 0.95 * float(np.min(-cam[ahead, 2], initial=np.inf)))
    z = np.maximum(-cam[:, 2], depth_near)
    ax /= max(1.0, float(np.max(np.abs(ax * cam[:, 0] / z))))
    ay /= max(1.0, float(np.max(np.abs(ay * cam[:, 1] / z))))
    margin = 0.0
  return tuple(float(v) for v in ref.reshape(-1)) + (ax, ay, depth_near, float(margin))


def ndc_to_grid(x, constants):
  """Scene points (..., 3) -> [0, 1]^3 through the NDC of the mean camera (ndc_constants).

  u = ax x_c / z, v = ay y_c / z, w = 1 - 2 near / z with z the depth in front of the mean camera;
  u and v are scaled by 1 / (1 + margin) so the views around it stay inside.
  """
  c = jnp.asarray(constants[:12], x.dtype).reshape(3, 4)
  ax, ay, near, margin = constants[12:]
  cam = jnp.sum((x - c[:, 3])[..., :, None] * c[:, :3], axis=-2)  # R^T (x - centre)
  z = jnp.maximum(-cam[..., 2], 1e-3 * near)
  s = 1.0 / (1.0 + margin)
  ndc = jnp.stack([s * ax * cam[..., 0] / z, s * ay * cam[..., 1] / z, 1.0 - 2.0 * near / z], -1)
  return 0.5 * (ndc + 1.0)


def to_grid(x, warp):
  """Scene points (..., 3) -> grid coordinates (..., 3) by the warp ((): the box; ("ndc",
  *constants): ndc_to_grid)."""
  if not warp:
    return box_to_grid(x)
  if warp[0] == "ndc":
    return ndc_to_grid(x, warp[1:])
  raise ValueError(f"unknown warp {warp[0]!r} (use one of {', '.join(WARPS)})")


def warp_for_scene(name, scene, fit_views=False):
  """The Model's `warp` attribute for config.model.warp = name on this scene (fit_views: the ndc
  grid holds every training view's frustum, ndc_constants; what only a held-out view sees is
  never trained, and room for it would coarsen every cell)."""
  if name == "box":
    return ()
  if name == "ndc":
    if not fit_views:
      return ("ndc",) + ndc_constants(scene.c2w, scene.intrinsics, scene.height, scene.width,
                                      scene.near)
    i = np.asarray(scene.train_idx)
    return ("ndc",) + ndc_constants(scene.c2w[i], scene.intrinsics[i], scene.height, scene.width,
                                    scene.near[i], far=scene.far[i])
  raise ValueError(f"model.warp={name!r}: unknown (use one of {', '.join(WARPS)})")
