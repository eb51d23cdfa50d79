"""LLFF / Deblur-NeRF scene folders: poses_bounds.npy (N x 17) and images/ (or images_{factor}/)."""
import os

import numpy as np

from macro_nerf.data.images import count_mismatch, image_folder, list_images, load_images
from macro_nerf.data.validation import check_cameras
from macro_nerf.errors import DataError
from macro_nerf.nerf.camera import llff_to_opengl


def load_llff(path, image_dir="images", factor=1):
  """poses_bounds.npy (N x 17) + images; returns images, OpenGL c2w, intrinsics, near, far, names."""
  pb_path = os.path.join(path, "poses_bounds.npy")
  try:
    pb = np.load(pb_path)
  except (OSError, ValueError) as e:
    raise DataError(f"{pb_path}: cannot read ({e})") from None
  shape = getattr(pb, "shape", None)
  if (shape is None or len(shape) != 2 or shape[1] != 17 or not shape[0]
      or not np.issubdtype(pb.dtype, np.number)):
    got = f"shape {shape}" + (f", dtype {pb.dtype}" if shape is not None else "")
    raise DataError(f"{pb_path}: expected an N x 17 array of numbers (N >= 1), got {got}")
  poses = pb[:, :15].reshape(-1, 3, 5).astype(np.float64)
  check_cameras(pb_path, llff_to_opengl(poses[:, :, :4]), poses[:, :, 4], pb[:, 15], pb[:, 16],
                focal_label="H, W, focal")

  def check_count(folder, names):
    if len(names) != len(pb):
      raise count_mismatch(folder, names, len(pb), pb_path)

  folder = image_folder(path, image_dir, factor, check_count)
  names = list_images(folder)
  check_count(folder, names)
  images = load_images(folder, names)
  h0, w0, f0 = poses[0, :, 4]
  h, w = images.shape[1:3]
  focal = poses[:, 2, 4] * (w / w0)
  c2w = llff_to_opengl(poses[:, :, :4])
  intr = np.stack([focal, focal, np.full_like(focal, w / 2), np.full_like(focal, h / 2)], -1)
  return images, c2w, intr, pb[:, 15], pb[:, 16], names

