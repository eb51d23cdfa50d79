"""Checks of camera poses and transforms.json before any image is read or written."""
import numpy as np

from macro_nerf.errors import DataError

ROTATION_TOL = 1e-2  # max |R^T R - I|: float32 rounding passes, a scaled or sheared matrix does not


def check_cameras(where, c2w, focal=None, near=None, far=None, names=None, focal_label="focal length"):
  """Raises a DataError naming `where` and the first bad view unless every camera has a finite
  pose whose rotation part is a rotation (orthonormal within ROTATION_TOL, det +1), positive finite
  `focal` values (N or N x k), finite bounds with 0 < near < far, and the cameras are not all at one
  position (spread <= 1e-6 x the median far bound, or x max(1, |centre|) without bounds)."""
  c2w = np.asarray(c2w, np.float64)
  n = len(c2w)
  view = lambda i: f"view {i}" + (f" ({names[i]})" if names is not None else "")
  first = lambda bad: int(np.argmax(bad))
  if n == 0:
    raise DataError(f"{where}: no cameras")
  bad = ~np.isfinite(c2w).all((1, 2))
  if bad.any():
    raise DataError(f"{where}: {view(first(bad))}: camera pose contains NaN or Inf")
  r = c2w[:, :3, :3]
  err = np.abs(np.einsum("nji,njk->nik", r, r) - np.eye(3)).max((1, 2))
  det = np.linalg.det(r)
  bad = (err > ROTATION_TOL) | (det <= 0)
  if bad.any():
    i = first(bad)
    lengths = np.linalg.norm(r[i], axis=0)
    hint = ""
    if det[i] > 0 and np.ptp(lengths) <= ROTATION_TOL * lengths.mean():
      hint = f": a rotation scaled by {lengths.mean():.4g}"
    elif det[i] < 0:
      hint = ": a reflection"
    raise DataError(f"{where}: {view(i)}: the pose's rotation part is not a rotation{hint} (det "
                    f"{det[i]:.4g}, column lengths {', '.join(f'{v:.4g}' for v in lengths)}; "
                    f"expected orthonormal columns within {ROTATION_TOL:g} and det +1)")
  if focal is not None:
    f = np.asarray(focal, np.float64).reshape(n, -1)
    bad = ~(np.isfinite(f) & (f > 0)).all(1)
    if bad.any():
      i = first(bad)
      vals = ", ".join(f"{v:g}" for v in f[i])
      raise DataError(f"{where}: {view(i)}: {focal_label} {vals} must be positive and finite")
  if near is not None:
    near, far = np.asarray(near, np.float64), np.asarray(far, np.float64)
    bad = ~(np.isfinite(near) & np.isfinite(far) & (near > 0) & (far > near))
    if bad.any():
      i = first(bad)
      raise DataError(f"{where}: {view(i)}: bounds near={near[i]:g} far={far[i]:g} must satisfy "
                      "0 < near < far")
  if n > 1:
    c = c2w[:, :3, 3]
    spread = np.linalg.norm(c - c.mean(0), axis=1).max()
    ref = np.median(far) if near is not None else max(1.0, np.abs(c).max())
    if spread <= 1e-6 * ref:
      raise DataError(f"{where}: all {n} cameras are at the same position "
                      f"({', '.join(f'{v:g}' for v in c[0])}); the poses need the cameras' "
                      "translations")



FRAME_NUMBERS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "near", "far")


def check_transforms(tf_path, meta):
  """transforms.json checked before any image is read or written: a JSON object with a non-empty
  `frames` list, each frame with a `file_path` and a 4 x 4 (or 3 x 4) `transform_matrix`, finite
  numbers in FRAME_NUMBERS (frame or top level), positive fl_x, fl_y, w, h, 0 < camera_angle_x <
  pi, a focal length, and cameras that check_cameras accepts."""
  if not isinstance(meta, dict):
    raise DataError(f"{tf_path}: expected a JSON object with a 'frames' list, got a "
                    f"{type(meta).__name__}")
  frames = meta.get("frames")
  if not isinstance(frames, list) or not frames:
    raise DataError(f"{tf_path}: no frames (expected a non-empty 'frames' list)")
  c2w, names = [], []
  for i, fr in enumerate(frames):
    if not isinstance(fr, dict) or not isinstance(fr.get("file_path"), str):
      raise DataError(f"{tf_path}: frame {i} has no file_path")
    where = f"{tf_path}: frame {i} ({fr['file_path']})"
    if fr.get("transform_matrix") is None:
      raise DataError(f"{where}: no transform_matrix")
    try:
      m = np.asarray(fr["transform_matrix"], np.float64)
    except (TypeError, ValueError):
      m = None
    if m is None or m.shape not in ((4, 4), (3, 4)):
      got = f"shape {m.shape}" if m is not None else "not a matrix of numbers"
      raise DataError(f"{where}: transform_matrix must be a 4 x 4 (or 3 x 4) matrix, got {got}")
    g = lambda k: fr.get(k, meta.get(k))
    for k in FRAME_NUMBERS:
      v = g(k)
      if v is None:
        continue
      if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise DataError(f"{where}: {k} = {v!r} is not a finite number")
      if k in ("fl_x", "fl_y", "w", "h") and v <= 0:
        raise DataError(f"{where}: {k} = {v!r} must be positive")
      if k == "camera_angle_x" and not 0 < v < np.pi:
        raise DataError(f"{where}: camera_angle_x = {v!r} must be between 0 and pi (radians)")
    if g("fl_x") is None and g("camera_angle_x") is None:
      raise DataError(f"{where}: no focal length (fl_x or camera_angle_x)")
    c2w.append(m[:3, :4])
    names.append(fr["file_path"])
  bounds = all(fr.get("near") is not None and fr.get("far") is not None for fr in frames)
  check_cameras(tf_path, np.stack(c2w), near=[fr["near"] for fr in frames] if bounds else None,
                far=[fr["far"] for fr in frames] if bounds else None, names=names)

