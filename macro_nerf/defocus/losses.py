"""The data terms of the defocus steps: how well the sharp field, seen through each photo's lens,
explains the photos.

- Patch steps render patches plus a margin sharp (the margin only forward, unless
  defocus.margin_grad), take each pixel's CoC radius from its rendered depth and its photo's lens
  (plus the learned residual), blur in linear light (scatter form), then apply the sRGB curve.
- Focus-weighted ray steps weight single sharp rays towards the pixels each photo has in focus.

Each term returns {"mse", "levels", "penalties", "stats"} (and "out", "rays" for ray terms);
`training/losses.py` adds the proposal losses and the priors.
"""
import jax
import jax.numpy as jnp

from macro_nerf.defocus import blur, lens as lens_lib
from macro_nerf.defocus.patches import patch_layout, patch_regions
from macro_nerf.image_utils import linear_to_srgb
from macro_nerf.nerf import appearance, camera, render
from macro_nerf.nerf.model import model_params


def radius_map(params, residual, data, cam, px, py, depth, config, image_size):
  """Per-pixel CoC radius (before clipping) and the residual term, for region pixels.

  Args:
    params: the full parameter tree ({"model", "lens", "residual"}).
    cam: (n,) view of each region; px, py, depth: (n, S, S) pixel coordinates and z-depth.
  Returns:
    r, delta: (n, S, S) radius in pixels and its learned residual part.
  """
  near, far = data["near"][cam][:, None, None], data["far"][cam][:, None, None]
  lens = params["lens"]
  inv_depth = 1.0 / depth
  kappa = lens_lib.kappa(lens)[cam][:, None, None]
  inv_s = lens_lib.inv_focus(jax.tree.map(lambda a: a[cam][:, None, None], lens), near, far)
  r = blur.coc_radius(inv_depth, kappa, inv_s)
  delta = jnp.zeros_like(r)
  if config.defocus.residual:
    h, w = image_size
    pos = jnp.stack([(px + 0.5) / w * 2 - 1, (py + 0.5) / h * 2 - 1], -1)
    disp = (inv_depth - 1.0 / far) / (1.0 / near - 1.0 / far)
    camb = jnp.broadcast_to(cam[:, None, None], r.shape)
    delta = residual.apply({"params": params["residual"]}, camb, pos, disp)
    r = r + delta
  return r, delta


def _sharp_regions(model, config):
  """render(params, key, data, cam, px, py) of patch regions (n, S*S): rgb, depth, levels, with
  the field's gradient where the config asks for it."""
  d = config.defocus
  inner, outer, inv = patch_layout(d.patch_size, d.margin)

  def apply(mp, key, data, cam, px, py):
    rays = render.rays_for_pixels(data, jnp.broadcast_to(cam[:, None], px.shape), px, py)
    return model.apply({"params": mp}, key, rays, train=True)

  def regions(mp, key, data, cam, px, py):
    k_in, k_out = jax.random.split(key)
    if not d.patch_field_grad:  # a lens step: the field only renders, forward-only
      mp = jax.lax.stop_gradient(mp)
    if d.margin_grad or not d.patch_field_grad:
      out = apply(mp, k_in, data, cam, px, py)
      return out["rgb"], out["depth"], out["levels"]
    # The margin only feeds the blur: render it forward-only.
    o_in = apply(mp, k_in, data, cam, px[:, inner], py[:, inner])
    o_out = apply(jax.lax.stop_gradient(mp), k_out, data, cam, px[:, outer], py[:, outer])
    rgb = jnp.concatenate([o_in["rgb"], o_out["rgb"]], 1)[:, inv]
    depth = jnp.concatenate([o_in["depth"], o_out["depth"]], 1)[:, inv]
    return rgb, depth, o_in["levels"]

  return regions


def patch_term(model, residual, config, image_size):
  """term(params, key, data, batch) for a batch of random_patches (any number of patches):
  the photos' patches against the sharp render blurred by each photo's lens."""
  d = config.defocus
  patch, margin = d.patch_size, d.margin
  side = patch + 2 * margin
  r_max = blur.max_radius(margin, d.softness)
  sharp_regions = _sharp_regions(model, config)

  def term(params, key, data, batch):
    cam, num = batch["cam"], batch["cam"].shape[0]
    px, py = patch_regions(batch["x0"], batch["y0"], patch, margin)
    px, py = px.reshape(num, -1).astype(jnp.float32), py.reshape(num, -1).astype(jnp.float32)
    rgb, depth, levels = sharp_regions(model_params(params), key, data, cam, px, py)
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
    blurred, _ = blur.blur(rgb, r, margin, d.softness, d.normalize)
    blurred = appearance.as_photographed(params, cam[:, None, None], blurred)
    mse = jnp.mean((linear_to_srgb(blurred) - batch["target"]) ** 2)
    res_reg = jnp.mean(delta ** 2)
    return {"mse": mse, "levels": levels, "penalties": [d.residual_weight * res_reg],
            "stats": {"clipped_frac": clipped, "radius_mean": jnp.mean(r),
                      "residual_rms": jnp.sqrt(res_reg),
                      "kappa_mean": jnp.mean(lens_lib.kappa(params["lens"])),
                      "focus_u_mean": jnp.mean(params["lens"]["focus_u"])}}

  return term


def least_radius(x, data, lens, image_size):
  """The smallest thin-lens radius any photo of data gives the points x, over the photos whose
  frame contains them (visibility is ignored): how sharp the sharpest photo of each point is.

  Args:
    x: (B, 3) points; data: the views' cameras; lens: their lens parameters; image_size: (h, w).
  Returns:
    (B,) radius in pixels (inf where no photo frames the point).
  """
  uv, z = jax.vmap(lambda c2w, intr: camera.project(x, c2w, intr, xnp=jnp), out_axes=1)(
      data["c2w"], data["intrinsics"])  # (B, N, 2), (B, N)
  h, w = image_size
  seen = (z > 0) & (uv[..., 0] >= 0) & (uv[..., 0] <= w) & (uv[..., 1] >= 0) & (uv[..., 1] <= h)
  r = blur.coc_radius(1.0 / jnp.maximum(z, 1e-6), lens_lib.kappa(lens),
                      lens_lib.inv_focus(lens, data["near"], data["far"]))
  return jnp.min(jnp.where(seen, r, jnp.inf), axis=-1)


def focus_ray_term(model, config, image_size=None):
  """term(params, key, data, batch) of random pixels, each weighted towards the photos that have
  it in focus: w = f + (1 - f) / (1 + (r / r0)^p) with r the thin-lens radius from the rendered
  depth and the photo's lens (both held fixed here).

  A surface point in focus in some photos and blurred in others then takes its colour from the
  sharp ones, as in focus stacking, at the cost of a plain ray step (see defocus.patch_every).
  The floor f keeps what no photo has in focus (a far background) trained on its blurred colour
  rather than left to drift.
  """
  d = config.defocus
  if d.get("focus_weight_relative", False) and image_size is None:
    raise ValueError("defocus.focus_weight_relative needs the image size")

  def term(params, key, data, batch):
    cam = batch["cam"]
    rays = render.rays_for_pixels(data, cam, batch["px"].astype(jnp.float32),
                                  batch["py"].astype(jnp.float32))
    out = model.apply({"params": model_params(params)}, key, rays, train=True)
    lens = jax.lax.stop_gradient(params["lens"])
    inv_s = lens_lib.inv_focus(jax.tree.map(lambda a: a[cam], lens), data["near"][cam],
                               data["far"][cam])
    depth = jax.lax.stop_gradient(out["depth"])
    r = blur.coc_radius(1.0 / depth, lens_lib.kappa(lens)[cam], inv_s)
    if d.get("focus_weight_relative", False):  # blur beyond what the sharpest photo has there
      x = jax.lax.stop_gradient(rays.origins + depth[..., None] * rays.directions)
      r = jnp.maximum(r - least_radius(x, data, lens, image_size), 0.0)
    floor = d.get("focus_weight_floor", 0.0)
    w = floor + (1.0 - floor) / (1.0 + (r / d.focus_weight_radius) ** d.focus_weight_power)
    rgb = appearance.as_photographed(params, cam, out["rgb"])
    err = jnp.sum((linear_to_srgb(rgb) - batch["target"]) ** 2, -1) / 3.0
    mse = jnp.sum(w * err) / jnp.maximum(jnp.sum(w), 1e-6)
    return {"mse": mse, "levels": out["levels"], "out": out, "rays": rays, "penalties": [],
            "stats": {"focus_weight_mean": jnp.mean(w)}}

  return term
