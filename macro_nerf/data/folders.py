"""A scene folder in any of the formats we read, by what it holds."""
import json
import os

from macro_nerf.data.colmap import load_colmap
from macro_nerf.data.llff import load_llff
from macro_nerf.data.nerfstudio import load_transforms
from macro_nerf.errors import DataError


def _complete_transforms(path):
  """Whether transforms.json has bounds on every frame (tools.colmap writes them): then it holds
  all that poses_bounds.npy does, and the principal point and fy, which poses_bounds.npy lacks."""
  try:
    with open(os.path.join(path, "transforms.json")) as f:
      frames = json.load(f)["frames"]
    return bool(frames) and all(fr.get("near") is not None and fr.get("far") is not None
                                for fr in frames)
  except (OSError, ValueError, KeyError, TypeError, AttributeError):
    return False


def read_folder(path, image_dir="images", factor=1):
  """A scene folder in any format: images, OpenGL c2w, intrinsics, near, far (world units), names.
  poses_bounds.npy comes first, unless transforms.json beside it carries bounds too."""
  if not os.path.isdir(path):
    raise DataError(f"{path}: scene folder does not exist")
  if os.path.isfile(os.path.join(path, "transforms.json")) and _complete_transforms(path):
    return load_transforms(path, image_dir, factor)
  if os.path.isfile(os.path.join(path, "poses_bounds.npy")):
    return load_llff(path, image_dir, factor)
  if os.path.isfile(os.path.join(path, "transforms.json")):
    return load_transforms(path, image_dir, factor)
  if os.path.isdir(os.path.join(path, "sparse", "0")):
    return load_colmap(path, image_dir, factor)
  raise DataError(f"{path}: no poses_bounds.npy, transforms.json or sparse/0 COLMAP model found")
