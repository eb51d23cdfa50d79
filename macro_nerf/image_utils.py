"""Colour transfer curves, image metrics, PNGs and depth colour maps."""
import jax.numpy as jnp
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity


def linear_to_srgb(x, xnp=jnp):
  """sRGB OETF; the linear toe keeps the gradient finite at 0."""
  x = xnp.clip(x, 0.0, 1.0)
  return xnp.where(x <= 0.0031308, 12.92 * x,
                   1.055 * xnp.power(xnp.maximum(x, 0.0031308), 1.0 / 2.4) - 0.055)


def srgb_to_linear(x, xnp=jnp):
  x = xnp.clip(x, 0.0, 1.0)
  return xnp.where(x <= 0.04045, x / 12.92, xnp.power((xnp.maximum(x, 0.04045) + 0.055) / 1.055, 2.4))


def psnr(a, b):
  mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
  return float(-10.0 * np.log10(max(mse, 1e-12)))


def ssim(a, b):
  return float(structural_similarity(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                     channel_axis=2, data_range=1.0))


def to_uint8(x):
  return (np.clip(np.asarray(x), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_png(path, x):
  Image.fromarray(to_uint8(x)).save(path)


def colorize_depth(depth, lo=None, hi=None):
  """Inverse-depth colour map (near bright), without matplotlib."""
  d = np.asarray(depth, np.float64)
  lo = np.percentile(d, 1) if lo is None else lo
  hi = np.percentile(d, 99) if hi is None else hi
  v = np.clip((1 / d - 1 / hi) / max(1 / lo - 1 / hi, 1e-12), 0, 1)
  # A short perceptual ramp (dark blue -> teal -> yellow), interpolated.
  stops = np.array([[0.05, 0.03, 0.35], [0.1, 0.45, 0.55], [0.45, 0.75, 0.3], [0.99, 0.9, 0.15]])
  x = v * (len(stops) - 1)
  i = np.clip(np.floor(x).astype(int), 0, len(stops) - 2)
  f = (x - i)[..., None]
  return stops[i] * (1 - f) + stops[i + 1] * f


def load_rgb(path):
  with Image.open(path) as im:
    return np.asarray(im.convert("RGB"), np.float32) / 255.0


_TURBO = (  # polynomial fit of Google's Turbo colour map (A. Mikhailov, R. Du), x in [0, 1]
    np.array([0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943]),
    np.array([0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604]),
    np.array([0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973]))


def turbo(x):
  """Turbo colour map of x in [0, 1] (clipped): (..., 3) in [0, 1]; dark blue -> green -> red."""
  x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
  powers = np.stack([x ** k for k in range(6)], -1)
  return np.clip(np.stack([powers @ c for c in _TURBO], -1), 0.0, 1.0)


def depth_colors(depth, lo, hi):
  """Turbo over inverse depth between lo and hi (world units): near red, far blue."""
  d = np.maximum(np.asarray(depth, np.float64), 1e-12)
  return turbo((1.0 / d - 1.0 / hi) / max(1.0 / lo - 1.0 / hi, 1e-12))
