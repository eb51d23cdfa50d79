"""A scene folder in any of the formats we read, by what it holds."""
import os

from macro_nerf.data.colmap import load_colmap
from macro_nerf.data.llff import load_llff
from macro_nerf.data.nerfstudio import load_transforms
from macro_nerf.errors import DataError


def read_folder(path, image_dir="images", factor=1):
  """A scene folder in any format: images, OpenGL c2w, intrinsics, near, far (world units), names."""
  if not os.path.isdir(path):
    raise DataError(f"{path}: scene folder does not exist")
  if os.path.isfile(os.path.join(path, "poses_bounds.npy")):
    return load_llff(path, image_dir, factor)
  if os.path.isfile(os.path.join(path, "transforms.json")):
    return load_transforms(path, image_dir, factor)
  if os.path.isdir(os.path.join(path, "sparse", "0")):
    return load_colmap(path, image_dir, factor)
  raise DataError(f"{path}: no poses_bounds.npy, transforms.json or sparse/0 COLMAP model found")
