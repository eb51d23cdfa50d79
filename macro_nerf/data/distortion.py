"""Lens distortion of nerfstudio / COLMAP cameras, and resampling photos to pinhole.

The renderer is a pinhole camera, so distorted photos are resampled once, at load time, onto the
pinhole image with the same fx, fy, cx, cy: each output pixel looks up where the distorted lens
put its ray (the forward model, no inversion needed) and samples there with a cubic spline.
Distortion below `min_shift_px` everywhere is ignored, so a near-pinhole camera is not resampled
(resampling softens a photo a little, which the defocus model would read as blur).
"""
import numpy as np
from scipy import ndimage

from macro_nerf.errors import DataError, DistortionError

# nerfstudio camera_model -> distortion keys it uses (missing keys are 0).
MODELS = {
    "PINHOLE": (),
    "SIMPLE_PINHOLE": (),
    "OPENCV": ("k1", "k2", "p1", "p2", "k3", "k4"),
    "OPENCV_FISHEYE": ("k1", "k2", "k3", "k4"),
}


def distort(x, y, model, coeffs):
  """Normalised pinhole coordinates (x, y) -> where the distorted lens images them."""
  c = {k: float(coeffs.get(k, 0.0) or 0.0) for k in ("k1", "k2", "k3", "k4", "p1", "p2")}
  if model in ("PINHOLE", "SIMPLE_PINHOLE"):
    return x, y
  if model == "OPENCV":
    r2 = x * x + y * y
    radial = 1 + r2 * (c["k1"] + r2 * (c["k2"] + r2 * c["k3"]))
    if c["k4"]:
      raise DistortionError("OPENCV k4 (rational model) is not supported")
    xd = x * radial + 2 * c["p1"] * x * y + c["p2"] * (r2 + 2 * x * x)
    yd = y * radial + c["p1"] * (r2 + 2 * y * y) + 2 * c["p2"] * x * y
    return xd, yd
  if model == "OPENCV_FISHEYE":
    r = np.sqrt(x * x + y * y)
    theta = np.arctan(r)
    t2 = theta * theta
    theta_d = theta * (1 + t2 * (c["k1"] + t2 * (c["k2"] + t2 * (c["k3"] + t2 * c["k4"]))))
    s = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
    return x * s, y * s
  raise DistortionError(f"camera_model {model!r} is not supported (use one of {sorted(MODELS)})")


def source_coords(model, coeffs, intr, height, width):
  """For every pinhole output pixel (centre at +0.5), the (row, col) to sample in the photo."""
  fx, fy, cx, cy = [float(v) for v in intr]
  v, u = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
  xd, yd = distort((u - cx) / fx, (v - cy) / fy, model, coeffs)
  return yd * fy + cy - 0.5, xd * fx + cx - 0.5


def max_shift(model, coeffs, intr, height, width):
  rows, cols = source_coords(model, coeffs, intr, height, width)
  v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  return float(np.max(np.hypot(rows - v, cols - u)))


def undistort(image, model, coeffs, intr, min_shift_px=0.05):
  """Resamples a distorted photo (H, W, C) onto the pinhole camera with the same intrinsics.

  Returns (image, shift): shift is the largest displacement in pixels (0 when left unchanged).
  """
  h, w = image.shape[:2]
  rows, cols = source_coords(model, coeffs, intr, h, w)
  v, u = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  shift = float(np.max(np.hypot(rows - v, cols - u)))
  if shift < min_shift_px:
    return image, 0.0
  out = np.stack([ndimage.map_coordinates(image[..., ch].astype(np.float64), [rows, cols], order=3,
                                          mode="nearest") for ch in range(image.shape[-1])], -1)
  return np.clip(out, 0.0, 1.0).astype(image.dtype), shift


def undistorted(image, model, coeffs, intr, where):
  """The photo resampled to the pinhole camera; unknown models are refused naming `where`."""
  if model not in MODELS:
    raise DataError(f"{where}: camera_model {model!r} is not supported (supported: "
                    f"{', '.join(MODELS)}); undistort the photos first")
  try:
    return undistort(image, model, coeffs, intr)[0]
  except DistortionError as e:
    raise DataError(f"{where}: {e}") from None
