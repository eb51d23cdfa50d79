"""Where each photo's aperture starts: the blur that best explains the photo, given the field.

At the end of the warm-up the field has been trained as if the photos were sharp. A few patches of
every training photo are rendered sharp, blurred by the photo's lens at several apertures (the
initial kappa times each of SCALES) and compared with the photo; each photo keeps the aperture
with the least error. A sharp capture so starts with little blur, and its focus-weighted ray steps
do not give sharp pixels away as blurred, while a photo more blurred than the field keeps a large
start (training shrinks too much blur readily, too little hardly at all).
"""
import jax.numpy as jnp
import numpy as np

from macro_nerf.defocus import blur
from macro_nerf.defocus.patches import patch_regions
from macro_nerf.image_utils import linear_to_srgb
from macro_nerf.nerf import appearance, render

SCALES = (1.0, 0.5, 0.25, 0.125, 0.0625)
PATCHES_PER_VIEW = 4


def patch_corners(height, width, patch, num=PATCHES_PER_VIEW):
  """Top-left corners (num,) x0, y0 of patches spread evenly over the image (a near-square grid)."""
  gx = max(int(round(np.sqrt(num * width / height))), 1)
  gy = int(np.ceil(num / gx))
  xs = np.round((np.arange(gx) + 0.5) * width / gx - patch / 2).astype(int)
  ys = np.round((np.arange(gy) + 0.5) * height / gy - patch / 2).astype(int)
  x0, y0 = np.meshgrid(np.clip(xs, 0, width - patch), np.clip(ys, 0, height - patch))
  return x0.reshape(-1)[:num], y0.reshape(-1)[:num]


def scale_errors(sharp, inv_depth, target, inv_focus, kappa, margin, softness=1.0,
                 normalize=True, scales=SCALES):
  """Mean squared sRGB error of every view's patches blurred at each aperture scale.

  Args:
    sharp: (V, K, S, S, 3) linear colour of K rendered regions per view, S = P + 2 margin (already
      through the view's colour code: the normalised blur commutes with an affine colour map).
    inv_depth: (V, K, S, S) rendered 1/z; target: (V, K, P, P, 3) the photos' patches (sRGB).
    inv_focus, kappa: (V,) each view's lens.
    scales: the factors on kappa to try.
  Returns:
    (V, len(scales)) errors.
  """
  r_max = blur.max_radius(margin, softness)
  errs = []
  for s in scales:
    r = blur.coc_radius(inv_depth, (s * kappa)[:, None, None, None], inv_focus[:, None, None, None])
    out, _ = blur.blur(sharp, jnp.clip(r, 0.0, r_max), margin, softness, normalize)
    errs.append(jnp.mean((linear_to_srgb(out) - target) ** 2, axis=(1, 2, 3, 4)))  # out: P x P
  return np.stack([np.asarray(e, np.float64) for e in errs], -1)


def search_log_kappa(render_fn, params, data, images, inv_focus, log_kappa, config):
  """Each training view's log kappa at the aperture scale that best explains its photo.

  Args:
    params: the full parameter tree; data: the training views' cameras on device.
    images: (V, H, W, 3) the training photos (sRGB); inv_focus, log_kappa: (V,) numpy.
  Returns:
    (log_kappa (V,), chosen scale per view (V,)).
  """
  d = config.defocus
  v, h, w = images.shape[:3]
  patch = min(d.patch_size, h, w)
  x0, y0 = patch_corners(h, w, patch)
  k = x0.size
  px, py = patch_regions(jnp.asarray(np.tile(x0, v)), jnp.asarray(np.tile(y0, v)), patch, d.margin)
  cam = np.broadcast_to(np.repeat(np.arange(v), k)[:, None, None], px.shape)
  out = render.render_pixels(render_fn, params["model"], data, cam.reshape(-1),
                             np.asarray(px).reshape(-1), np.asarray(py).reshape(-1),
                             config.eval.chunk)
  side = patch + 2 * d.margin
  rgb = out["rgb"].reshape(v * k, side, side, 3)
  rgb = appearance.as_photographed(params, np.repeat(np.arange(v), k)[:, None, None], rgb)
  g = np.arange(patch)
  target = images[np.repeat(np.arange(v), k)[:, None, None], np.tile(y0, v)[:, None, None] + g[:, None],
                  np.tile(x0, v)[:, None, None] + g[None, :]]
  errs = scale_errors(jnp.asarray(rgb).reshape(v, k, side, side, 3),
                      jnp.asarray(1.0 / np.maximum(out["depth"], 1e-6)).reshape(v, k, side, side),
                      jnp.asarray(target).reshape(v, k, patch, patch, 3),
                      jnp.asarray(inv_focus, jnp.float32), jnp.exp(jnp.asarray(log_kappa, jnp.float32)),
                      d.margin, d.softness, d.normalize)
  best = np.asarray(SCALES)[np.argmin(errs, -1)]
  return np.asarray(log_kappa, np.float64) + np.log(best), best
