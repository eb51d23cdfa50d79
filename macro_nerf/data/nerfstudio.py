"""nerfstudio / Blender scene folders: transforms.json with shared or per-frame intrinsics."""
import json
import os

import numpy as np

from macro_nerf.data import distortion
from macro_nerf.data.images import check_sizes, find_image, image_folder, load_image
from macro_nerf.data.validation import check_transforms
from macro_nerf.errors import DataError
from macro_nerf.nerf import camera


def frame_image(tf_path, folder, file_path):
  """The image of a transforms.json frame in `folder`: its file name, or its stem with any image
  extension (downsampled folders hold PNGs)."""
  p = find_image(folder, os.path.basename(file_path))
  if p is None:
    raise DataError(f"{tf_path}: image for frame {file_path!r} not found in {folder}")
  return p


def load_transforms(path, image_dir="images", factor=1):
  """nerfstudio / Blender transforms.json with shared or per-frame intrinsics."""
  tf_path = os.path.join(path, "transforms.json")
  try:
    with open(tf_path) as f:
      meta = json.load(f)
  except json.JSONDecodeError as e:
    raise DataError(f"{tf_path}: not valid JSON ({e})") from None
  except (OSError, ValueError) as e:
    raise DataError(f"{tf_path}: cannot read ({e})") from None
  check_transforms(tf_path, meta)
  frames = meta["frames"]
  folder = image_folder(path, image_dir, factor, lambda src, _: [
      frame_image(tf_path, src, fr["file_path"]) for fr in frames])
  names, c2w, intr, images = [], [], [], []
  for fr in frames:
    base = os.path.basename(fr["file_path"])
    p = frame_image(tf_path, folder, fr["file_path"])
    im = load_image(p)
    images.append(im)
    names.append(os.path.basename(p))
    g = lambda k: fr.get(k, meta.get(k))
    w_full = g("w") or im.shape[1] * factor
    s = im.shape[1] / w_full
    if g("fl_x") is not None:
      fx, fy = g("fl_x"), g("fl_y") or g("fl_x")
    elif g("camera_angle_x") is not None:
      fx = fy = 0.5 * w_full / np.tan(0.5 * g("camera_angle_x"))
    else:
      raise DataError(f"{tf_path}: no focal length (fl_x or camera_angle_x)")
    cx = g("cx") if g("cx") is not None else w_full / 2
    cy = g("cy") if g("cy") is not None else (g("h") or im.shape[0] * factor) / 2
    intr.append([fx * s, fy * s, cx * s, cy * s])
    c2w.append(np.asarray(fr["transform_matrix"], np.float64)[:3, :4])
    model = g("camera_model") or "PINHOLE"
    coeffs = {k: g(k) for k in ("k1", "k2", "k3", "k4", "p1", "p2")}
    images[-1] = distortion.undistorted(images[-1], model, coeffs, intr[-1], f"{tf_path}: frame {base}")
  check_sizes(folder, names, images)
  c2w = np.stack(c2w)
  if all(fr.get("near") is not None and fr.get("far") is not None for fr in frames):
    near = np.array([fr["near"] for fr in frames], np.float64)  # written by tools.colmap
    far = np.array([fr["far"] for fr in frames], np.float64)
  else:
    near, far = camera.bounds_from_cameras(c2w)
  return np.stack(images), c2w, np.array(intr), near, far, names
