"""Scene folders (LLFF / Deblur-NeRF and nerfstudio / Blender) -> one normalised `Scene`.

The scene is translated and uniformly scaled so that the union of the cameras' view frusta between
their near and far bounds fits in [-1, 1]^3; `center` and `scale` undo it (x_world = x / scale +
center, depths / scale).
"""
import dataclasses
import json
import os
import shutil
import stat
import tempfile
from typing import List, Optional

import numpy as np
from PIL import Image

from macro_nerf.camera import llff_to_opengl

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class DataError(ValueError):
  """Bad input: the message names the file and the problem."""


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


def list_images(folder):
  if not os.path.isdir(folder):
    raise DataError(f"{folder}: image folder does not exist")
  names = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
  if not names:
    raise DataError(f"{folder}: no images found")
  return names


def load_image(path):
  try:
    with Image.open(path) as im:
      return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: cannot read image ({e})") from None


def load_images(folder, names):
  ims = [load_image(os.path.join(folder, n)) for n in names]
  shapes = {im.shape for im in ims}
  if len(shapes) > 1:
    raise DataError(f"{folder}: images have mixed sizes {sorted(shapes)}")
  return np.stack(ims)


def downsampled_folder(path, image_dir, factor):
  """Returns `{image_dir}_{factor}`, creating it with Pillow (box filter) when it is missing.

  Written to a temporary folder then renamed, so a failure leaves nothing half-made. When the scene
  folder is read-only the downsampled images are made in a per-user cache instead.
  """
  src = os.path.join(path, image_dir)
  dst = os.path.join(path, f"{image_dir}_{factor}")
  if os.path.isdir(dst):
    return dst
  names = list_images(src)
  # Read-only by its mode bits counts too: root passes os.access on any folder.
  writable = os.access(path, os.W_OK) and os.stat(path).st_mode & stat.S_IWUSR
  parent = path if writable else os.path.join(
      os.path.expanduser("~"), ".cache", "macro_nerf",
      os.path.abspath(path).strip(os.sep).replace(os.sep, "_"))
  dst = os.path.join(parent, f"{image_dir}_{factor}")
  if os.path.isdir(dst):
    return dst
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp_resize_")
  try:
    for n in names:
      with Image.open(os.path.join(src, n)) as im:
        w, h = im.size
        im.convert("RGB").resize((w // factor, h // factor), Image.BOX).save(
            os.path.join(tmp, os.path.splitext(n)[0] + ".png"))
    try:
      os.rename(tmp, dst)
    except OSError:
      if not os.path.isdir(dst):  # not another process that made it first
        raise
      shutil.rmtree(tmp, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return dst


def image_folder(path, image_dir, factor):
  return downsampled_folder(path, image_dir, factor) if factor > 1 else os.path.join(path, image_dir)


def load_llff(path, image_dir="images", factor=1):
  """poses_bounds.npy (N x 17) + images; returns images, OpenGL c2w, intrinsics, near, far, names."""
  pb_path = os.path.join(path, "poses_bounds.npy")
  try:
    pb = np.load(pb_path)
  except (OSError, ValueError) as e:
    raise DataError(f"{pb_path}: cannot read ({e})") from None
  if pb.ndim != 2 or pb.shape[1] != 17:
    raise DataError(f"{pb_path}: expected an N x 17 array, got shape {pb.shape}")
  folder = image_folder(path, image_dir, factor)
  names = list_images(folder)
  if len(names) != len(pb):
    raise DataError(f"{folder}: {len(names)} images but {pb_path} has {len(pb)} poses")
  images = load_images(folder, names)
  poses = pb[:, :15].reshape(-1, 3, 5)
  h0, w0, f0 = poses[0, :, 4]
  h, w = images.shape[1:3]
  focal = poses[:, 2, 4] * (w / w0)
  c2w = llff_to_opengl(poses[:, :, :4])
  intr = np.stack([focal, focal, np.full_like(focal, w / 2), np.full_like(focal, h / 2)], -1)
  return images, c2w, intr, pb[:, 15], pb[:, 16], names


def load_transforms(path, image_dir="images", factor=1):
  """nerfstudio / Blender transforms.json with shared or per-frame intrinsics."""
  tf_path = os.path.join(path, "transforms.json")
  try:
    with open(tf_path) as f:
      meta = json.load(f)
  except (OSError, ValueError) as e:
    raise DataError(f"{tf_path}: cannot read ({e})") from None
  frames = meta.get("frames") or []
  if not frames:
    raise DataError(f"{tf_path}: no frames")
  folder = image_folder(path, image_dir, factor)
  names, c2w, intr, images = [], [], [], []
  for fr in frames:
    base = os.path.basename(fr["file_path"])
    stem = os.path.splitext(base)[0]
    cands = [os.path.join(folder, base)] + [os.path.join(folder, stem + e) for e in IMAGE_EXTS]
    p = next((c for c in cands if os.path.isfile(c)), None)
    if p is None:
      raise DataError(f"{tf_path}: image for frame {fr['file_path']!r} not found in {folder}")
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
  if len({im.shape for im in images}) > 1:
    raise DataError(f"{folder}: images have mixed sizes")
  c2w = np.stack(c2w)
  near, far = bounds_from_cameras(c2w)
  return np.stack(images), c2w, np.array(intr), near, far, names


def bounds_from_cameras(c2w):
  """Near/far z-depths for captures without bounds: around the point the cameras look at."""
  centres, axes = c2w[:, :, 3], -c2w[:, :, 2]
  # Least-squares point closest to all optical axes.
  m = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]
  target = np.linalg.lstsq(m.sum(0), (m @ centres[:, :, None]).sum(0), rcond=None)[0][:, 0]
  dist = np.einsum("ni,ni->n", target - centres, axes)
  dist = np.maximum(dist, 1e-3)
  return 0.2 * dist, 2.5 * dist


def frustum_corners(c2w, intr, h, w, near, far):
  """The 8 corners of each camera's frustum slab between near and far (N, 8, 3)."""
  fx, fy, cx, cy = [intr[:, i, None] for i in range(4)]
  px = np.array([0, w, 0, w], np.float64)[None]
  py = np.array([0, 0, h, h], np.float64)[None]
  cam = np.stack([(px - cx) / fx, -(py - cy) / fy, -np.ones_like(px * fx)], -1)  # (N, 4, 3)
  d = np.einsum("nkj,nij->nki", cam, c2w[:, :3, :3])
  o = c2w[:, None, :3, 3]
  pts = [o + d * near[:, None, None], o + d * far[:, None, None]]
  return np.concatenate(pts, 1)


def load_scene(config) -> Scene:
  """Reads config.data.path in either format and normalises it."""
  d = config.data
  path = d.path
  if not os.path.isdir(path):
    raise DataError(f"{path}: scene folder does not exist")
  if os.path.isfile(os.path.join(path, "poses_bounds.npy")):
    images, c2w, intr, near, far, names = load_llff(path, d.image_dir, d.factor)
  elif os.path.isfile(os.path.join(path, "transforms.json")):
    images, c2w, intr, near, far, names = load_transforms(path, d.image_dir, d.factor)
  else:
    raise DataError(f"{path}: neither poses_bounds.npy nor transforms.json found")
  if not np.all(np.isfinite(c2w)):
    raise DataError(f"{path}: camera poses contain NaN or Inf")
  if np.any(near <= 0) or np.any(far <= near):
    raise DataError(f"{path}: bounds must satisfy 0 < near < far")
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
    sharp = load_images(folder, names)
  return Scene(images=images.astype(np.float32), c2w=c2w_n.astype(np.float32),
               intrinsics=intr.astype(np.float32), near=(near * scale).astype(np.float32),
               far=(far * scale).astype(np.float32), names=names, train_idx=train_idx,
               test_idx=test_idx, center=center, scale=float(scale), path=path, sharp_images=sharp)
