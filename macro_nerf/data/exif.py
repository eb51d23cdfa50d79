"""Camera settings from the photos' EXIF: focal length, f-number and focus (subject) distance.

They give the thin-lens prior: focus s from the focus distance, and the CoC scale
kappa = f_px * f / (2 N) (radius in pixels = kappa |1/z - 1/s|), with f the focal length, N the
f-number and f_px the calibrated pinhole focal length in pixels. EXIF distances are metres while
a COLMAP scene has no metric scale, so training maps them into the scene with one factor per
scene, from the rendered depth (`lens.lens_from_exif`).
"""
import json
import os

import numpy as np
from PIL import ExifTags, Image

from macro_nerf.errors import DataError

FILE = "exif.json"


def _num(v):
  try:
    x = float(v)
  except (TypeError, ValueError, ZeroDivisionError):
    return None
  return x if np.isfinite(x) else None


def read_exif(path):
  """{"focal_length_mm", "f_number", "focus_distance_m", "focal_length_35mm", "make", "model"}
  with None where the photo does not say (SubjectDistance 0 means unknown, 0xFFFFFFFF infinity)."""
  out = dict.fromkeys(("focal_length_mm", "f_number", "focus_distance_m", "focal_length_35mm",
                       "make", "model"))
  try:
    with Image.open(path) as im:
      im.load()
      exif = im.getexif()
  except (OSError, ValueError):
    return out
  sub = exif.get_ifd(ExifTags.IFD.Exif)
  out["make"] = (str(exif.get(ExifTags.Base.Make, "")).strip("\x00 ") or None)
  out["model"] = (str(exif.get(ExifTags.Base.Model, "")).strip("\x00 ") or None)
  f = _num(sub.get(ExifTags.Base.FocalLength))
  out["focal_length_mm"] = f if f and f > 0 else None
  n = _num(sub.get(ExifTags.Base.FNumber))
  out["f_number"] = n if n and n > 0 else None
  d = _num(sub.get(ExifTags.Base.SubjectDistance))
  out["focus_distance_m"] = d if d and 0 < d < 4e9 else None
  f35 = _num(sub.get(ExifTags.Base.FocalLengthIn35mmFilm))
  out["focal_length_35mm"] = f35 if f35 and f35 > 0 else None
  return out


def write_exif_json(image_paths, out_path):
  """Writes exif.json ({"views": [{"file", ...}]}) when any photo carries camera settings.

  Returns the number of photos with at least one setting (0: nothing written)."""
  views = []
  for p in image_paths:
    e = read_exif(p)
    views.append(dict(file=os.path.basename(p), **e))
  useful = sum(any(v[k] for k in ("focal_length_mm", "f_number", "focus_distance_m"))
               for v in views)
  if useful:
    with open(out_path, "w") as f:
      json.dump({"views": views}, f, indent=1)
  return useful


def load_exif_json(path, names):
  """Per view (in `names` order): (focal_length_mm, f_number, focus_distance_m) arrays, NaN where
  unknown; None when the file does not exist."""
  if not os.path.isfile(path):
    return None
  try:
    with open(path) as f:
      views = {v["file"]: v for v in json.load(f)["views"]}
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise DataError(f"{path}: not an exif file ({e})") from None
  # Downsampled folders hold PNGs of the photos: match those by stem.
  stems = {os.path.splitext(f)[0]: v for f, v in views.items()}
  view = lambda n: views.get(n) or stems.get(os.path.splitext(n)[0], {})
  get = lambda n, k: _num(view(n).get(k)) or np.nan
  return tuple(np.array([get(n, k) for n in names], np.float64)
               for k in ("focal_length_mm", "f_number", "focus_distance_m"))


def coc_scale(focal_px, focal_m, f_number):
  """Thin-lens CoC radius scale in pixels x metres: r = kappa |1/z - 1/s| (z, s in metres).

  Focused at s, the sensor sits at the image distance v = f s / (s - f); a point at z blurs into
  a disk of diameter c = A v |1/z - 1/s| with aperture A = f / N. The calibrated pinhole focal
  length is f_px = v / pitch, so the radius in pixels is (f / 2N) f_px |1/z - 1/s|.
  """
  return focal_px * focal_m / (2.0 * f_number)
