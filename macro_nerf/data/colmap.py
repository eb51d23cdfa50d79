"""COLMAP sparse models (binary or text, via pycolmap) -> cameras in our conventions, and scene
folders that hold one in sparse/0.

COLMAP's camera frame is OpenCV (x right, y down, z forward) and its pixel centres sit at +0.5,
as ours do, so intrinsics carry over unchanged and c2w only flips the y and z axes.
"""
import os

import numpy as np

from macro_nerf.data import distortion
from macro_nerf.data.images import image_folder, list_images, load_images
from macro_nerf.errors import DataError

# COLMAP model -> (nerfstudio camera_model, parameter names in COLMAP's order).
COLMAP_MODELS = {
    "SIMPLE_PINHOLE": ("PINHOLE", ("f", "cx", "cy")),
    "PINHOLE": ("PINHOLE", ("fx", "fy", "cx", "cy")),
    "SIMPLE_RADIAL": ("OPENCV", ("f", "cx", "cy", "k1")),
    "RADIAL": ("OPENCV", ("f", "cx", "cy", "k1", "k2")),
    "OPENCV": ("OPENCV", ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2")),
    "OPENCV_FISHEYE": ("OPENCV_FISHEYE", ("fx", "fy", "cx", "cy", "k1", "k2", "k3", "k4")),
}


def import_pycolmap():
  try:
    import pycolmap  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise DataError("pycolmap is not installed: pip install 'macro_nerf[colmap]'") from None
  return pycolmap


def read_reconstruction(path):
  """A pycolmap.Reconstruction from a sparse model folder (cameras/images/points3D .bin or .txt)."""
  pycolmap = import_pycolmap()
  if not os.path.isdir(path):
    raise DataError(f"{path}: COLMAP model folder does not exist")
  found = set(os.listdir(path))
  if not any({f"cameras.{e}", f"images.{e}", f"points3D.{e}"} <= found for e in ("bin", "txt")):
    raise DataError(f"{path}: not a COLMAP model (needs cameras, images, points3D .bin or .txt)")
  try:
    return pycolmap.Reconstruction(path)
  except Exception as e:  # pycolmap raises plain RuntimeError / ValueError on corrupt files
    raise DataError(f"{path}: cannot read COLMAP model ({str(e).splitlines()[0]})") from None


def camera_record(camera, where):
  """COLMAP camera -> dict(camera_model, fl_x, fl_y, cx, cy, w, h, k1.., p1..) (nerfstudio keys)."""
  name = camera.model.name
  if name not in COLMAP_MODELS:
    raise DataError(f"{where}: COLMAP camera model {name} is not supported "
                    f"(use one of {', '.join(COLMAP_MODELS)})")
  model, keys = COLMAP_MODELS[name]
  p = dict(zip(keys, [float(v) for v in camera.params]))
  if "f" in p:
    p["fx"] = p["fy"] = p.pop("f")
  rec = {"camera_model": model, "fl_x": p.pop("fx"), "fl_y": p.pop("fy"), "cx": p.pop("cx"),
         "cy": p.pop("cy"), "w": int(camera.width), "h": int(camera.height)}
  if model != "PINHOLE":
    for k in ("k1", "k2", "p1", "p2") if model == "OPENCV" else ("k1", "k2", "k3", "k4"):
      rec[k] = p.get(k, 0.0)
  return rec


def cameras_from_reconstruction(rec, where, near_pct=0.1, far_pct=99.9):
  """Registered images sorted by name -> names, OpenGL c2w (N,3,4), camera records, near, far.

  Near/far are the `near_pct` / `far_pct` percentiles of the z-depths of the 3D points each image
  sees (as LLFF's imgs2poses does), widened by 10 % on each side.
  """
  images = sorted((im for im in rec.images.values() if im.has_pose), key=lambda im: im.name)
  if not images:
    raise DataError(f"{where}: the COLMAP model has no registered images")
  xyz = {pid: p.xyz for pid, p in rec.points3D.items()}
  names, c2w, cams, near, far = [], [], [], [], []
  for im in images:
    w2c = np.asarray(im.cam_from_world().matrix(), np.float64)  # (3, 4), OpenCV camera
    r, t = w2c[:, :3], w2c[:, 3]
    m = np.concatenate([r.T, (-r.T @ t)[:, None]], 1)
    m[:, 1:3] *= -1  # OpenCV -> OpenGL
    ids = [p.point3D_id for p in im.points2D if p.has_point3D()]
    if len(ids) < 8:
      raise DataError(f"{where}: image {im.name} sees only {len(ids)} 3D points; cannot bound it")
    z = (np.stack([xyz[i] for i in ids]) @ r.T + t)[:, 2]
    z = z[z > 0]
    if len(z) < 8:
      raise DataError(f"{where}: image {im.name} has no 3D points in front of it")
    names.append(im.name)
    c2w.append(m)
    cams.append(camera_record(rec.cameras[im.camera_id], where))
    near.append(np.percentile(z, near_pct) / 1.1)
    far.append(np.percentile(z, far_pct) * 1.1)
  return names, np.stack(c2w), cams, np.array(near), np.array(far)


def similarity_align(src, dst):
  """s, R, t minimising sum |s R src_i + t - dst_i|^2 (Umeyama 1991); rows are points."""
  mu_s, mu_d = src.mean(0), dst.mean(0)
  xs, xd = src - mu_s, dst - mu_d
  u, d, vt = np.linalg.svd(xd.T @ xs / len(src))
  e = np.eye(3)
  e[2, 2] = np.sign(np.linalg.det(u @ vt))
  r = u @ e @ vt
  s = np.trace(np.diag(d) @ e) / np.mean(np.sum(xs ** 2, 1))
  return s, r, mu_d - s * r @ mu_s


def load_colmap(path, image_dir="images", factor=1):
  """A COLMAP model in `path/sparse/0` (binary or text) and the photos it was made from."""
  model_dir = os.path.join(path, "sparse", "0")
  rec = read_reconstruction(model_dir)
  names, c2w, cams, near, far = cameras_from_reconstruction(rec, model_dir)

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
    images[i] = distortion.undistorted(images[i], cam["camera_model"], cam, intr[-1],
                                       f"{model_dir}: image {names[i]}")
  return images, c2w, np.array(intr), near, far, files
