"""Colour transfer curves and image metrics."""
import jax.numpy as jnp
import numpy as np
from PIL import Image


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
  from skimage.metrics import structural_similarity
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
