"""Photos in, poses out: structure-from-motion with pycolmap -> a scene folder macro_nerf reads
(the command is macro_nerf/tools/colmap.py).

  python -m macro_nerf.tools.colmap IMAGES_DIR --output SCENE            # SIFT, matching, mapping
  python -m macro_nerf.tools.colmap IMAGES_DIR --output SCENE --sparse MODEL   # existing sparse/0

SCENE gets `images/` (the registered photos; resampled to pinhole when the fitted lens distorts
by more than 0.05 px, then saved upright), `poses_bounds.npy`, `transforms.json`, `sparse/0` (the COLMAP model, of the
original photos), `exif.json` (when the photos carry camera settings) and `colmap_report.json`.
Defocus blur starves SIFT, so the share of registered photos is reported and the tool fails below
`--min_registered`. Everything is built in a temporary folder and moved into place at the end:
a failure leaves nothing behind. Photos are taken upright, as their EXIF orientation says: COLMAP
reads pixels as stored, so turned photos reach it as upright copies.
"""
import json
import os
import shutil
import time

import numpy as np
from PIL import Image

from macro_nerf import image_utils
from macro_nerf.data import colmap as colmap_model, distortion, exif
from macro_nerf.data.images import list_images, load_image, make_dir
from macro_nerf.errors import DataError
from macro_nerf.nerf.camera import opengl_to_llff


def check_images(folder):
  """All photos decode and share one size upright (one camera); returns names, (width, height) and
  the names of the photos whose EXIF orientation turns them."""
  names = list_images(folder)
  sizes, turned = {}, []
  for n in names:
    p = os.path.join(folder, n)
    try:
      with Image.open(p) as im:
        im.load()
        sizes.setdefault(image_utils.upright_size(im), []).append(n)
        if image_utils.orientation(im) != 1:
          turned.append(n)
    except (OSError, ValueError, SyntaxError) as e:
      raise DataError(f"{p}: cannot read image ({e})") from None
  if len(sizes) > 1:
    desc = ", ".join(f"{w}x{h} ({v[0]}{', ...' if len(v) > 1 else ''})"
                     for (w, h), v in sorted(sizes.items()))
    note = (f" (upright, as their EXIF orientation says: {', '.join(turned[:3])}"
            f"{', ...' if len(turned) > 3 else ''} turned)" if turned else "")
    raise DataError(f"{folder}: photos have mixed sizes{note}: {desc}")
  if len(names) < 3:
    raise DataError(f"{folder}: {len(names)} photo(s); structure-from-motion needs at least 3")
  return names, next(iter(sizes)), turned


def upright_folder(images_dir, names, turned, work):
  """The folder COLMAP reads: `images_dir` itself when no photo is turned by its EXIF orientation,
  else work/upright with the turned photos saved upright (EXIF kept, orientation dropped: COLMAP
  reads the focal length from it) and links to the others."""
  if not turned:
    return images_dir
  out = os.path.join(work, "upright")
  os.makedirs(out)
  for n in names:
    src, dst = os.path.join(images_dir, n), os.path.join(out, n)
    if n not in turned:
      try:
        os.symlink(src, dst)
      except OSError:  # a file system without links
        shutil.copy2(src, dst)
      continue
    with Image.open(src) as im:
      up = image_utils.upright(im)
      kw = {"exif": up.info["exif"]} if up.info.get("exif") else {}
      if n.lower().endswith((".jpg", ".jpeg")):
        kw["quality"] = 95
      up.save(dst, **kw)
  return out


def structure_from_motion(images_dir, names, work, camera_model, single_camera, matcher):
  """SIFT extraction, matching and incremental mapping; the reconstruction with most images."""
  pycolmap = colmap_model.import_pycolmap()
  pycolmap.logging.minloglevel = 2  # errors only; we print our own progress
  db = os.path.join(work, "database.db")
  reader = pycolmap.ImageReaderOptions()
  reader.camera_model = camera_model
  mode = pycolmap.CameraMode.SINGLE if single_camera else pycolmap.CameraMode.PER_IMAGE
  t0 = time.time()
  print(f"colmap: extracting SIFT features from {len(names)} photos", flush=True)
  pycolmap.extract_features(db, images_dir, image_names=names, camera_mode=mode,
                            reader_options=reader)
  print(f"colmap: matching ({matcher})", flush=True)
  (pycolmap.match_exhaustive if matcher == "exhaustive" else pycolmap.match_sequential)(db)
  print("colmap: incremental mapping", flush=True)
  out = os.path.join(work, "sparse_all")
  os.makedirs(out)
  recs = pycolmap.incremental_mapping(db, images_dir, out)
  os.remove(db)
  if not recs:
    return None, time.time() - t0
  best = max(recs.values(), key=lambda r: r.num_reg_images())
  return best, time.time() - t0


def write_scene(rec, images_dir, names, tmp, where):
  """images/, poses_bounds.npy, transforms.json, sparse/0 and exif.json of the registered photos."""
  reg, c2w, cams, near, far = colmap_model.cameras_from_reconstruction(rec, where)
  missing = [n for n in reg if n not in names]
  if missing:
    raise DataError(f"{where}: model image {missing[0]} is not in {images_dir}")
  os.makedirs(os.path.join(tmp, "images"))
  frames, shifts = [], {}
  for i, (name, cam) in enumerate(zip(reg, cams)):
    src, dst = os.path.join(images_dir, name), os.path.join(tmp, "images", name)
    intr = [cam["fl_x"], cam["fl_y"], cam["cx"], cam["cy"]]
    if cam["camera_model"] != "PINHOLE":
      arr = load_image(src)  # upright, as COLMAP saw it
      with Image.open(src) as im:
        info_exif = image_utils.upright(im).info.get("exif")  # without the orientation
      arr, shift = distortion.undistort(arr, cam["camera_model"], cam, intr)
      if shift:
        shifts[name] = shift
        out = Image.fromarray(np.round(arr * 255).astype(np.uint8))
        kw = {"exif": info_exif} if info_exif else {}
        if name.lower().endswith((".jpg", ".jpeg")):
          kw["quality"] = 95
        out.save(dst, **kw)
    if not os.path.exists(dst):
      shutil.copy2(src, dst)
    frame = {"file_path": f"images/{name}", "transform_matrix":
             np.concatenate([c2w[i], [[0, 0, 0, 1]]]).tolist(), "camera_model": "PINHOLE",
             "fl_x": cam["fl_x"], "fl_y": cam["fl_y"], "cx": cam["cx"], "cy": cam["cy"],
             "w": cam["w"], "h": cam["h"], "near": float(near[i]), "far": float(far[i])}
    if cam["camera_model"] != "PINHOLE":
      frame["colmap_distortion"] = {k: v for k, v in cam.items() if k[0] in "kp" and k[1].isdigit()}
    frames.append(frame)
  hwf = np.array([[c["h"], c["w"], c["fl_x"]] for c in cams], np.float64)[:, :, None]
  poses = np.concatenate([opengl_to_llff(c2w), hwf], 2).reshape(-1, 15)
  np.save(os.path.join(tmp, "poses_bounds.npy"), np.concatenate([poses, near[:, None],
                                                                  far[:, None]], 1))
  with open(os.path.join(tmp, "transforms.json"), "w") as f:
    json.dump({"camera_model": "PINHOLE", "frames": frames}, f, indent=1)
  os.makedirs(os.path.join(tmp, "sparse", "0"))
  rec.write_binary(os.path.join(tmp, "sparse", "0"))
  n_exif = exif.write_exif_json([os.path.join(images_dir, n) for n in reg],
                                os.path.join(tmp, exif.FILE))
  return reg, shifts, n_exif, near, far


def run(images_dir, output, sparse=None, camera_model="SIMPLE_RADIAL", single_camera=True,
        matcher="exhaustive", min_registered=0.8, overwrite=False):
  """Makes the scene folder `output`; returns the report (also written as colmap_report.json)."""
  images_dir = os.path.abspath(images_dir)
  output = os.path.abspath(output)
  if camera_model not in colmap_model.COLMAP_MODELS:
    raise DataError(f"--camera_model={camera_model}: not supported (use one of "
                    f"{', '.join(colmap_model.COLMAP_MODELS)})")
  if not os.path.isdir(images_dir):
    raise DataError(f"{images_dir}: image folder does not exist")
  names, (width, height), turned = check_images(images_dir)
  if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)) and not overwrite:
    raise DataError(f"{output}: exists and is not empty (pass --overwrite to replace it)")
  if os.path.commonpath([output, images_dir]) == output:
    raise DataError(f"{output}: the output folder may not contain the input photos")
  parent = os.path.dirname(output)
  os.makedirs(parent, exist_ok=True)
  tmp = make_dir(parent, ".colmap_tmp_")
  try:
    t0 = time.time()
    if sparse:
      rec, sfm_s = colmap_model.read_reconstruction(os.path.abspath(sparse)), 0.0
      where = os.path.abspath(sparse)
    else:
      rec, sfm_s = structure_from_motion(upright_folder(images_dir, names, turned, tmp), names,
                                         tmp, camera_model, single_camera, matcher)
      where = images_dir
    n_reg = rec.num_reg_images() if rec is not None else 0
    registered = sorted(im.name for im in rec.images.values() if im.has_pose) if rec else []
    frac = n_reg / len(names)
    print(f"colmap: registered {n_reg}/{len(names)} photos ({100 * frac:.0f} %)", flush=True)
    if frac < min_registered:
      raise DataError(
          f"{where}: only {n_reg}/{len(names)} photos registered (< {100 * min_registered:.0f} %): "
          "too little sharp texture for SIFT; use photos with more in focus or stack them, or "
          "lower --min_registered")
    reg, shifts, n_exif, near, far = write_scene(rec, images_dir, names, tmp, where)
    report = {
        "images_dir": images_dir, "registered": n_reg, "total": len(names),
        "unregistered": [n for n in names if n not in set(registered)],
        "points3D": int(rec.num_points3D()),
        "mean_reprojection_error_px": float(rec.compute_mean_reprojection_error()),
        "camera_model": sorted({c.model.name for c in rec.cameras.values()}),
        "undistorted_max_shift_px": max(shifts.values()) if shifts else 0.0,
        "photos_with_exif": n_exif, "near_min": float(near.min()), "far_max": float(far.max()),
        "image_size": [width, height], "sfm_seconds": round(sfm_s, 2),
        "total_seconds": round(time.time() - t0, 2),
        "source": "sparse model " + os.path.abspath(sparse) if sparse else "pycolmap SfM",
    }
    with open(os.path.join(tmp, "colmap_report.json"), "w") as f:
      json.dump(report, f, indent=1)
    for scratch in ("sparse_all", "upright"):
      shutil.rmtree(os.path.join(tmp, scratch), ignore_errors=True)
    if os.path.isdir(output):
      shutil.rmtree(output)
    elif os.path.exists(output):
      os.remove(output)
    os.rename(tmp, output)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return report
