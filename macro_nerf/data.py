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
  try:
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
  except OSError as e:
    raise DataError(f"{folder}: cannot list images ({e.strerror or e})") from None
  if not names:
    raise DataError(f"{folder}: no images found")
  return names


def load_image(path):
  try:
    with Image.open(path) as im:
      return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
  except Exception as e:  # Pillow raises OSError, SyntaxError, EOFError, zlib.error... on bad files
    raise image_error(path, e) from None


def _one_line(e):
  return " ".join(str(e).split()) or type(e).__name__


def image_error(path, e):
  reason = _one_line(e).replace(f" {str(path)!r}", "")  # Pillow repeats the path
  return DataError(f"{path}: not a readable image ({reason})")


def check_sizes(folder, names, images):
  """All images one size, else a DataError naming the first that differs from the first."""
  for n, im in zip(names, images):
    if im.shape[:2] != images[0].shape[:2]:
      (h, w), (h0, w0) = im.shape[:2], images[0].shape[:2]
      raise DataError(f"{os.path.join(folder, n)}: image is {w}x{h} but {names[0]} is {w0}x{h0}; "
                      "all images must have the same size")


def load_images(folder, names):
  ims = [load_image(os.path.join(folder, n)) for n in names]
  check_sizes(folder, names, ims)
  return np.stack(ims)


def downsampled_folder(path, image_dir, factor, check=None):
  """Returns `{image_dir}_{factor}`, creating it with Pillow (box filter) when it is missing.

  Written to a temporary folder then renamed, so a failure (an unreadable image, mixed sizes, or
  `check(src_folder, names)` raising before anything is written) leaves nothing half-made. When the
  scene folder is read-only the downsampled images are made in a per-user cache instead.
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
  if check is not None:
    check(src, names)
  made = []  # the folders made here, innermost first, removed again on failure when still empty
  d = parent
  while not os.path.isdir(d):
    made.append(d)
    d = os.path.dirname(d)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp_resize_")
  try:
    size = None
    for n in names:
      try:
        with Image.open(os.path.join(src, n)) as im:
          rgb = im.convert("RGB")
      except Exception as e:  # as load_image
        raise image_error(os.path.join(src, n), e) from None
      if size is not None and rgb.size != size:
        raise DataError(f"{os.path.join(src, n)}: image is {rgb.size[0]}x{rgb.size[1]} but "
                        f"{names[0]} is {size[0]}x{size[1]}; all images must have the same size")
      size = size or rgb.size
      w, h = rgb.size
      rgb.resize((w // factor, h // factor), Image.BOX).save(
          os.path.join(tmp, os.path.splitext(n)[0] + ".png"))
    try:
      os.rename(tmp, dst)
    except OSError:
      if not os.path.isdir(dst):  # not another process that made it first
        raise
      shutil.rmtree(tmp, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    for d in made:
      try:
        os.rmdir(d)
      except OSError:
        break
    raise
  return dst


def image_folder(path, image_dir, factor, check=None):
  if factor > 1:
    return downsampled_folder(path, image_dir, factor, check)
  return os.path.join(path, image_dir)


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
      raise DataError(f"{folder}: {len(names)} images but {pb_path} has {len(pb)} poses")

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


def frame_image(tf_path, folder, file_path):
  """The image of a transforms.json frame in `folder`: its file name, or its stem with any image
  extension (downsampled folders hold PNGs)."""
  base = os.path.basename(file_path)
  stem = os.path.splitext(base)[0]
  cands = [os.path.join(folder, base)] + [os.path.join(folder, stem + e) for e in IMAGE_EXTS]
  p = next((c for c in cands if os.path.isfile(c)), None)
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
    images[-1] = undistorted(images[-1], model, coeffs, intr[-1], f"{tf_path}: frame {base}")
  check_sizes(folder, names, images)
  c2w = np.stack(c2w)
  if all(fr.get("near") is not None and fr.get("far") is not None for fr in frames):
    near = np.array([fr["near"] for fr in frames], np.float64)  # written by tools.colmap
    far = np.array([fr["far"] for fr in frames], np.float64)
  else:
    near, far = bounds_from_cameras(c2w)
  return np.stack(images), c2w, np.array(intr), near, far, names


def undistorted(image, model, coeffs, intr, where):
  """The photo resampled to the pinhole camera (distortion.py); unknown models are refused."""
  from macro_nerf import distortion
  if model not in distortion.MODELS:
    raise DataError(f"{where}: camera_model {model!r} is not supported (supported: "
                    f"{', '.join(distortion.MODELS)}); undistort the photos first")
  try:
    return distortion.undistort(image, model, coeffs, intr)[0]
  except distortion.DistortionError as e:
    raise DataError(f"{where}: {e}") from None


def load_colmap(path, image_dir="images", factor=1):
  """A COLMAP model in `path/sparse/0` (binary or text) and the photos it was made from."""
  from macro_nerf import colmap_model
  model_dir = os.path.join(path, "sparse", "0")
  rec = colmap_model.read_reconstruction(model_dir)
  names, c2w, cams, near, far = colmap_model.cameras_from_reconstruction(rec, model_dir)

  def match(folder, found):  # every registered photo is there (checked before downsampling)
    have = {os.path.splitext(n)[0]: n for n in found}
    missing = [n for n in names if os.path.splitext(n)[0] not in have]
    if missing:
      raise DataError(f"{model_dir}: image {missing[0]} not found in {folder}")
    return [have[os.path.splitext(n)[0]] for n in names]

  folder = image_folder(path, image_dir, factor, check=match)
  files = match(folder, list_images(folder))
  images = load_images(folder, files)
  intr = []
  for i, cam in enumerate(cams):
    s = images.shape[2] / cam["w"]
    intr.append([cam["fl_x"] * s, cam["fl_y"] * s, cam["cx"] * s, cam["cy"] * s])
    images[i] = undistorted(images[i], cam["camera_model"], cam, intr[-1],
                            f"{model_dir}: image {names[i]}")
  return images, c2w, np.array(intr), near, far, files


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


TFDS_PREFIX = "tfds:"  # data.path = "tfds:SPLIT": a scene packed by tools/tfds_pack.py


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


def load_scene(config) -> Scene:
  """Reads config.data.path in either format (or a packed TFDS split) and normalises it."""
  d = config.data
  path = d.path
  if path.startswith(TFDS_PREFIX):
    from macro_nerf import tfds_scenes  # the optional [tfds] extra
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
    sharp = load_images(folder, names)
  return Scene(images=images.astype(np.float32), c2w=c2w_n.astype(np.float32),
               intrinsics=intr.astype(np.float32), near=(near * scale).astype(np.float32),
               far=(far * scale).astype(np.float32), names=names, train_idx=train_idx,
               test_idx=test_idx, center=center, scale=float(scale), path=path, sharp_images=sharp)
