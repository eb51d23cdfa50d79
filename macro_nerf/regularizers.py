"""A geometry prior for where the photos say nothing: smooth disparity on small rendered patches.

Defocus blur averages a fine texture (gravel, sand, fabric) into flat colour, so a background that
every photo blurs carries no parallax: any depth explains it, and the field leaves it as a cloud
in front of where it belongs (pebbles: the far ground 20-40 % too near, standing up as a sheet in
the mesh). Planes have disparity affine in the pixel coordinates (1/z = a u + b v + c for a
pinhole camera), so second differences of disparity vanish on every plane; a robust (Charbonnier,
nearly L1) penalty on them lets depth jump at object edges and pulls textureless regions into the
smooth continuation of what the textured ones pin down (RegNeRF's depth smoothness, second order).
Patches of 8 x 8 neighbouring pixels only bend the sheet where it meets the ground; the coarse
variant (samples `stride` px apart, edge-aware so it does not flatten objects against the ground)
reaches from the pinned ground into the blurred background in one patch.
"""
import jax
import jax.numpy as jnp
import numpy as np

from macro_nerf import pipeline


def random_smooth_patches(rng, num_views, height, width, num, size, stride=1):
  """Pixels of `num` random patches of size x size samples `stride` pixels apart, in the training
  views (host side): cam (num,) and px, py (num, size * size) int32, raster order in each patch."""
  span = stride * (size - 1) + 1
  if span > min(height, width):
    raise ValueError(f"a {size} x {size} prior patch {stride} px apart spans {span} px: more than "
                     f"the {width} x {height} images")
  cam = rng.integers(0, num_views, num)
  x0 = rng.integers(0, width - span + 1, num)
  y0 = rng.integers(0, height - span + 1, num)
  gy, gx = np.meshgrid(np.arange(size) * stride, np.arange(size) * stride, indexing="ij")
  px = x0[:, None] + gx.reshape(1, -1)
  py = y0[:, None] + gy.reshape(1, -1)
  return {"cam": cam.astype(np.int32), "px": px.astype(np.int32), "py": py.astype(np.int32)}


def disparity_curvature(depth, near, far, eps=1e-4, guide=None, edge=0.0):
  """Mean Charbonnier of the second differences of disparity along x and y over patches.

  depth (n, s, s) z-depth, near/far (n,): disparity is normalised to each view's range,
  q = (1/z - 1/far) / (1/near - 1/far), so the weight means the same in every scene. Zero for
  any plane (q affine in the pixel coordinates). With guide (n, s, s, 3) colours and edge > 0, each
  second difference counts exp(-(|dc1|^2 + |dc2|^2) / edge^2) (its two colour steps): full where
  the photo is flat, nothing across an object's outline.
  """
  near, far = near[:, None, None], far[:, None, None]
  q = (1.0 / depth - 1.0 / far) / (1.0 / near - 1.0 / far)
  dxx = q[:, :, 2:] - 2.0 * q[:, :, 1:-1] + q[:, :, :-2]
  dyy = q[:, 2:, :] - 2.0 * q[:, 1:-1, :] + q[:, :-2, :]
  charb = lambda x: jnp.sqrt(x ** 2 + eps ** 2) - eps
  cx, cy = charb(dxx), charb(dyy)
  if guide is not None and edge > 0:
    gx = jnp.sum((guide[:, :, 1:] - guide[:, :, :-1]) ** 2, -1)
    gy = jnp.sum((guide[:, 1:] - guide[:, :-1]) ** 2, -1)
    cx = cx * jnp.exp(-(gx[:, :, 1:] + gx[:, :, :-1]) / edge ** 2)
    cy = cy * jnp.exp(-(gy[:, 1:] + gy[:, :-1]) / edge ** 2)
  return 0.5 * (jnp.mean(cx) + jnp.mean(cy))


def plane_guide(images, stride):
  """Guide colours of the coarse prior: each pixel's mean over a stride x stride box (host side),
  so a sample stands for the stretch of photo between it and its neighbours, grain averaged out."""
  x = np.asarray(images, np.float64)
  lo = stride // 2
  x = np.pad(x, ((0, 0), (lo, stride - 1 - lo), (lo, stride - 1 - lo), (0, 0)), mode="edge")
  c = np.pad(np.cumsum(np.cumsum(x, 1), 2), ((0, 0), (1, 0), (1, 0), (0, 0)))
  h, w = images.shape[1:3]
  box = (c[:, stride:stride + h, stride:stride + w] - c[:, :h, stride:stride + w]
         - c[:, stride:stride + h, :w] + c[:, :h, :w])
  return (box / stride ** 2).astype(np.float32)


def _priors(t):
  """(batch prefix, weight, patches, size, stride, edge) of the fine and the coarse prior."""
  return [("smooth_", t.depth_smooth_weight, t.depth_smooth_patches, t.depth_smooth_size, 1, 0.0),
          ("plane_", t.get("depth_plane_weight", 0.0), t.get("depth_plane_patches", 0),
           t.get("depth_plane_size", 8), t.get("depth_plane_stride", 1),
           t.get("depth_plane_edge", 0.0))]


def smoothness_batch(config, rng, num_views, height, width, num_devices, guide=None):
  """The priors' patches for one step ({} when both weights are 0); guide: plane_guide() of the
  training images, needed when train.depth_plane_edge > 0."""
  out = {}
  for prefix, weight, num, size, stride, edge in _priors(config.train):
    if weight <= 0:
      continue
    b = random_smooth_patches(rng, num_views, height, width, num * num_devices, size, stride)
    if edge > 0:
      b["guide"] = guide[b["cam"][:, None], b["py"], b["px"]]
    out.update({prefix + k: v for k, v in b.items()})
  return out


def smoothness_loss(model, params, key, data, batch, config):
  """Weight x disparity_curvature of the field's render of each prior's patches (params: the
  radiance model's). Returns (weighted sum, log entries: {} when both priors are off)."""
  total, stats = 0.0, {}
  for i, (prefix, weight, _, s, _, edge) in enumerate(_priors(config.train)):
    if weight <= 0:
      continue
    cam, px, py = batch[prefix + "cam"], batch[prefix + "px"], batch[prefix + "py"]
    n = px.shape[0]
    camb = jnp.broadcast_to(cam[:, None], px.shape)
    rays = pipeline.rays_for_pixels(data, camb, px.astype(jnp.float32), py.astype(jnp.float32))
    out = model.apply({"params": params}, jax.random.fold_in(key, 0x5A007 + i), rays, train=True)
    guide = batch[prefix + "guide"].reshape(n, s, s, 3) if edge > 0 else None
    curv = disparity_curvature(out["depth"].reshape(n, s, s), data["near"][cam],
                               data["far"][cam], guide=guide, edge=edge)
    total = total + weight * curv
    stats["disparity_curvature" if prefix == "smooth_" else "plane_curvature"] = curv
  return total, stats

