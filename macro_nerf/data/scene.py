"""One normalised `Scene` from a scene folder in any format (or a packed TFDS split).

The scene is translated and uniformly scaled so that the union of the cameras' view frusta between
their near and far bounds fits in [-1, 1]^3; `center` and `scale` undo it (x_world = x / scale +
center, depths / scale).
"""
import dataclasses
from typing import List, Optional

import numpy as np

from macro_nerf.data import tfds_scenes
from macro_nerf.data.folders import read_folder
from macro_nerf.data.images import image_folder, load_matching
from macro_nerf.data.validation import check_cameras
from macro_nerf.nerf.camera import frustum_corners


@dataclasses.dataclass
class Scene:
  images: np.ndarray  # (N, H, W, 3) float32, as stored (sRGB), in [0, 1]
  c2w: np.ndarray  # (N, 3, 4) float32, OpenGL, normalised
  intrinsics: np.ndarray  # (N, 4) fx, fy, cx, cy in pixels
  near: np.ndarray  # (N,) normalised z-depth
  far: np.ndarray  # (N,)
  names: List[str]
  train_idx: np.ndarray
  test_idx: np.ndarray
  center: np.ndarray  # (3,) world units
  scale: float  # normalised = (world - center) * scale
  path: str
  sharp_images: Optional[np.ndarray] = None  # eval only (data.eval_sharp_dir)

  @property
  def height(self):
    return self.images.shape[1]

  @property
  def width(self):
    return self.images.shape[2]

def load_scene(config) -> Scene:
  """Reads config.data.path in either format (or a packed TFDS split) and normalises it."""
  d = config.data
  path = d.path
  if path.startswith(tfds_scenes.TFDS_PREFIX):
    images, c2w, intr, near, far, names = tfds_scenes.load_split(d)
  else:
    images, c2w, intr, near, far, names = read_folder(path, d.image_dir, d.factor)
  check_cameras(path, c2w, np.asarray(intr)[:, :2], near, far, names)  # every format and source
  n = len(images)
  idx = np.arange(n)
  hold = d.llffhold
  test_idx = idx[idx % hold == 0] if hold > 0 else idx[:0]
  train_idx = idx[idx % hold != 0] if hold > 0 else idx
  corners = frustum_corners(c2w, intr, images.shape[1], images.shape[2], near, far)
  lo, hi = corners.reshape(-1, 3).min(0), corners.reshape(-1, 3).max(0)
  center = 0.5 * (lo + hi)
  scale = 1.0 / (0.5 * np.max(hi - lo) * (1.0 + d.box_padding))
  c2w_n = c2w.copy()
  c2w_n[:, :, 3] = (c2w[:, :, 3] - center) * scale
  sharp = None
  if d.get("eval_sharp_dir"):
    folder = image_folder(path, d.eval_sharp_dir, d.factor)
    sharp = load_matching(folder, names)
  return Scene(images=images.astype(np.float32), c2w=c2w_n.astype(np.float32),
               intrinsics=intr.astype(np.float32), near=(near * scale).astype(np.float32),
               far=(far * scale).astype(np.float32), names=names, train_idx=train_idx,
               test_idx=test_idx, center=center, scale=float(scale), path=path, sharp_images=sharp)
