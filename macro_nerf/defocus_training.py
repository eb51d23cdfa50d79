"""The defocus training step: render patches plus a margin sharp, blur them, compare with the photos.

Per step: n patches of P x P observed pixels; the sharp field is rendered once on (P + 2m)^2 pixels
(the margin only forward, unless defocus.margin_grad), each pixel's CoC radius comes from its
rendered depth and its photo's lens (plus the learned residual), and the scatter-form blur in linear
light, then the sRGB curve, gives the prediction of the observed pixels.
"""
import jax
import jax.numpy as jnp
import numpy as np

from macro_nerf import defocus, parallel, pipeline, regularizers, support_plane
from macro_nerf import lens as lens_lib
from macro_nerf.image_utils import linear_to_srgb
from macro_nerf.model import proposal_losses


def patch_layout(patch, margin):
  """Flat indices of the interior and of the margin inside a (P + 2m)^2 region, and the inverse
  permutation that puts [interior, margin] back in raster order."""
  side = patch + 2 * margin
  inside = np.zeros((side, side), bool)
  inside[margin:margin + patch, margin:margin + patch] = True
  inner = np.flatnonzero(inside.reshape(-1))
  outer = np.flatnonzero(~inside.reshape(-1))
  inv = np.argsort(np.concatenate([inner, outer]))
  return inner, outer, inv


def random_patches(rng, images, num, patch):
  """Random P x P patches of images (N, H, W, 3) (host side): view, top-left corner, colours."""
  n, h, w = images.shape[:3]
  cam = rng.integers(0, n, num)
  x0 = rng.integers(0, w - patch + 1, num)
  y0 = rng.integers(0, h - patch + 1, num)
  g = np.arange(patch)
  target = images[cam[:, None, None], y0[:, None, None] + g[None, :, None],
                  x0[:, None, None] + g[None, None, :]]
  return {"cam": cam.astype(np.int32), "x0": x0.astype(np.int32), "y0": y0.astype(np.int32),
          "target": target}


def patch_regions(x0, y0, patch, margin):
  """Pixel coordinates (num, S, S), S = P + 2m, of each patch plus its margin (margins may reach
  outside the image: rays extend beyond it)."""
  g = jnp.arange(-margin, patch + margin)
  num = x0.shape[0]
  px = jnp.broadcast_to(x0[:, None, None] + g[None, None, :], (num, g.size, g.size))
  py = jnp.broadcast_to(y0[:, None, None] + g[None, :, None], (num, g.size, g.size))
  return px, py


def radius_map(params, residual, data, cam, px, py, depth, config, image_size):
  """Per-pixel CoC radius (before clipping) and the residual term, for region pixels."""
  near, far = data["near"][cam][:, None, None], data["far"][cam][:, None, None]
  lens = params["lens"]
  inv_depth = 1.0 / depth
  kappa = lens_lib.kappa(lens)[cam][:, None, None]
  inv_s = lens_lib.inv_focus(jax.tree.map(lambda a: a[cam][:, None, None], lens), near, far)
  r = defocus.coc_radius(inv_depth, kappa, inv_s)
  delta = jnp.zeros_like(r)
  if config.defocus.residual:
    h, w = image_size
    pos = jnp.stack([(px + 0.5) / w * 2 - 1, (py + 0.5) / h * 2 - 1], -1)
    disp = (inv_depth - 1.0 / far) / (1.0 / near - 1.0 / far)
    camb = jnp.broadcast_to(cam[:, None, None], r.shape)
    delta = residual.apply({"params": params["residual"]}, camb, pos, disp)
    r = r + delta
  return r, delta


def patches_per_device(config):
  return max(config.train.batch_size // config.defocus.patch_size ** 2, 1)


def make_defocus_loss(model, residual, config, image_size):
  """loss_fn(params, key, data, batch) for a batch of random_patches (any number of patches)."""
  d, t = config.defocus, config.train
  patch, margin = d.patch_size, d.margin
  inner, outer, inv = patch_layout(patch, margin)
  side = patch + 2 * margin
  r_max = defocus.max_radius(margin, d.softness)

  def render(params, key, data, cam, px, py):
    rays = pipeline.rays_for_pixels(data, jnp.broadcast_to(cam[:, None], px.shape), px, py)
    return model.apply({"params": params}, key, rays, train=True)

  def loss_fn(params, key, data, batch):
    k_in, k_out = jax.random.split(key)
    cam, target = batch["cam"], batch["target"]
    num = cam.shape[0]
    px, py = patch_regions(batch["x0"], batch["y0"], patch, margin)
    mp = pipeline.model_params(params)
    px, py = px.reshape(num, -1).astype(jnp.float32), py.reshape(num, -1).astype(jnp.float32)
    if not d.patch_field_grad:  # a lens step: the field only renders, forward-only
      mp = jax.lax.stop_gradient(mp)
    if d.margin_grad or not d.patch_field_grad:
      out = render(mp, k_in, data, cam, px, py)
      rgb, depth, levels = out["rgb"], out["depth"], out["levels"]
    else:  # the margin only feeds the blur: render it forward-only
      o_in = render(mp, k_in, data, cam, px[:, inner], py[:, inner])
      o_out = render(jax.lax.stop_gradient(mp), k_out, data, cam, px[:, outer], py[:, outer])
      rgb = jnp.concatenate([o_in["rgb"], o_out["rgb"]], 1)[:, inv]
      depth = jnp.concatenate([o_in["depth"], o_out["depth"]], 1)[:, inv]
      levels = o_in["levels"]
    rgb, depth = rgb.reshape(num, side, side, 3), depth.reshape(num, side, side)
    if not d.depth_grad:
      depth = jax.lax.stop_gradient(depth)
    r, delta = radius_map(params, residual, data, cam, px.reshape(num, side, side),
                          py.reshape(num, side, side), depth, config, image_size)
    clipped = jnp.mean((r > r_max).astype(jnp.float32))
    if "blur_scale" in batch:  # the blur ramp (defocus.blur_ramp_steps): lens fixed meanwhile
      scale = batch["blur_scale"][:, None, None]
      r = jnp.where(scale < 1.0, jax.lax.stop_gradient(r), r) * scale
    r = jnp.clip(r, 0.0, r_max)
    blurred, _ = defocus.blur(rgb, r, margin, d.softness, d.normalize)
    pred = linear_to_srgb(blurred)
    mse = jnp.mean((pred - target) ** 2)
    inter, dist = proposal_losses(levels)
    res_reg = jnp.mean(delta ** 2)
    loss = (mse + t.interlevel_weight * inter + t.distortion_weight * dist
            + d.residual_weight * res_reg)
    return loss, {"loss": loss, "mse": mse, "psnr": -10.0 * jnp.log10(mse), "interlevel": inter,
                  "distortion": dist, "clipped_frac": clipped, "radius_mean": jnp.mean(r),
                  "residual_rms": jnp.sqrt(res_reg),
                  "kappa_mean": jnp.mean(lens_lib.kappa(params["lens"])),
                  "focus_u_mean": jnp.mean(params["lens"]["focus_u"])}

  return loss_fn


def median_depth_focus(render_fn, params, data, image_size, chunk, grid=(18, 24)):
  """focus_u of every training view at its median rendered depth (over opaque pixels)."""
  med = median_depths(render_fn, params, data, image_size, chunk, grid)
  near, far = parallel.to_host(data["near"]), parallel.to_host(data["far"])
  return np.clip(lens_lib.focus_u_from_depth(med, near, far), 0.0, 1.0)


def median_depths(render_fn, params, data, image_size, chunk, grid=(18, 24)):
  """Median rendered z-depth of every training view (normalised), over opaque pixels of a grid."""
  n = data["near"].shape[0]
  cam, px, py = pipeline.grid_pixels(n, image_size, grid)
  out = pipeline.render_pixels(render_fn, params, data, cam, px, py, chunk)
  depth, acc = out["depth"].reshape(n, -1), out["acc"].reshape(n, -1)
  return np.array([np.median(dv[av > 0.5]) if np.sum(av > 0.5) > 10 else np.median(dv)
                   for dv, av in zip(depth, acc)])


def make_focus_ray_loss(model, config):
  """Ray loss weighted towards pixels each photo has in focus: w = 1 / (1 + (r / r0)^p) with r the
  thin-lens radius from the rendered depth and the photo's lens (both held fixed here).

  A surface point in focus in some photos and blurred in others then takes its colour from the
  sharp ones, as in focus stacking, at the cost of a plain ray step (see defocus.patch_every).
  """
  t, d = config.train, config.defocus

  def loss_fn(params, key, data, batch):
    cam = batch["cam"]
    rays = pipeline.rays_for_pixels(data, cam, batch["px"].astype(jnp.float32),
                                    batch["py"].astype(jnp.float32))
    out = model.apply({"params": pipeline.model_params(params)}, key, rays, train=True)
    lens = jax.lax.stop_gradient(params["lens"])
    inv_s = lens_lib.inv_focus(jax.tree.map(lambda a: a[cam], lens), data["near"][cam],
                               data["far"][cam])
    r = defocus.coc_radius(1.0 / jax.lax.stop_gradient(out["depth"]),
                           lens_lib.kappa(lens)[cam], inv_s)
    w = 1.0 / (1.0 + (r / d.focus_weight_radius) ** d.focus_weight_power)
    err = jnp.sum((linear_to_srgb(out["rgb"]) - batch["target"]) ** 2, -1) / 3.0
    mse = jnp.sum(w * err) / jnp.maximum(jnp.sum(w), 1e-6)
    inter, dist = proposal_losses(out["levels"])
    smooth, smooth_stats = regularizers.smoothness_loss(model, pipeline.model_params(params),
                                                        key, data, batch, config)
    plane, plane_stats = support_plane.loss(out, rays, data, config)
    loss = mse + t.interlevel_weight * inter + t.distortion_weight * dist + smooth + plane
    return loss, smooth_stats | plane_stats | {
        "loss": loss, "mse": mse, "psnr": -10.0 * jnp.log10(mse), "interlevel": inter,
        "distortion": dist, "focus_weight_mean": jnp.mean(w)}

  return loss_fn
