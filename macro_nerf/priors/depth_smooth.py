"""A geometry prior for where the photos say nothing: smooth disparity on small rendered patches.

Defocus blur averages a fine texture (gravel, sand, fabric) into flat colour, so a background that
every photo blurs carries no parallax: any depth explains it, and the field leaves it as a cloud
in front of where it belongs (pebbles: the far ground 20-40 % too near, standing up as a sheet in
the mesh). Planes have disparity affine in the pixel coordinates (1/z = a u + b v + c for a
pinhole camera), so second differences of disparity vanish on every plane; a robust (Charbonnier,
nearly L1) penalty on them lets depth jump at object edges and pulls textureless regions into the
smooth continuation of what the textured ones pin down (RegNeRF's depth smoothness, second order).
"""
import jax
import jax.numpy as jnp
import numpy as np

from macro_nerf.nerf import render


def random_smooth_patches(rng, num_views, height, width, num, size):
  """Pixels of `num` random size x size patches of the training views (host side): cam (num,)
  and px, py (num, size * size) int32, in raster order within each patch."""
  cam = rng.integers(0, num_views, num)
  x0 = rng.integers(0, width - size + 1, num)
  y0 = rng.integers(0, height - size + 1, num)
  gy, gx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  px = x0[:, None] + gx.reshape(1, -1)
  py = y0[:, None] + gy.reshape(1, -1)
  return {"cam": cam.astype(np.int32), "px": px.astype(np.int32), "py": py.astype(np.int32)}


def disparity_curvature(depth, near, far, eps=1e-4):
  """Mean Charbonnier of the second differences of disparity along x and y over patches.

  depth (n, s, s) z-depth, near/far (n,): disparity is normalised to each view's range,
  q = (1/z - 1/far) / (1/near - 1/far), so the weight means the same in every scene. Zero for
  any plane (q affine in the pixel coordinates).
  """
  near, far = near[:, None, None], far[:, None, None]
  q = (1.0 / depth - 1.0 / far) / (1.0 / near - 1.0 / far)
  dxx = q[:, :, 2:] - 2.0 * q[:, :, 1:-1] + q[:, :, :-2]
  dyy = q[:, 2:, :] - 2.0 * q[:, 1:-1, :] + q[:, :-2, :]
  charb = lambda x: jnp.sqrt(x ** 2 + eps ** 2) - eps
  return 0.5 * (jnp.mean(charb(dxx)) + jnp.mean(charb(dyy)))


def step_batch(config, rng, num_views, height, width, num_devices):
  """The prior's patches for one ray step ({} when prior.depth_smooth.weight is 0)."""
  p = config.prior.depth_smooth
  if p.weight <= 0:
    return {}
  b = random_smooth_patches(rng, num_views, height, width, p.patches * num_devices, p.size)
  return {"smooth_" + k: v for k, v in b.items()}


def loss(model, params, key, data, batch, config):
  """prior.depth_smooth.weight x disparity_curvature of the field's render of the batch's
  patches (params: the radiance model's). Returns (weighted loss, log entries: {} when off)."""
  p = config.prior.depth_smooth
  if p.weight <= 0:
    return 0.0, {}
  cam, px, py = batch["smooth_cam"], batch["smooth_px"], batch["smooth_py"]
  n, s = px.shape[0], p.size
  camb = jnp.broadcast_to(cam[:, None], px.shape)
  rays = render.rays_for_pixels(data, camb, px.astype(jnp.float32), py.astype(jnp.float32))
  out = model.apply({"params": params}, jax.random.fold_in(key, 0x5A007), rays, train=True)
  curv = disparity_curvature(out["depth"].reshape(n, s, s), data["near"][cam], data["far"][cam])
  return p.weight * curv, {"disparity_curvature": curv}

