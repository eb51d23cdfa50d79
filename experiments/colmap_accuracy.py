"""Camera recovery of `macro_nerf.tools.colmap` against a scene's known poses; prints JSON.

  python experiments/colmap_accuracy.py --scene=/work/shared/scenes/pebbles --image_dir=images_sharp

Runs the tool on SCENE/IMAGE_DIR, aligns the recovered camera centres to the true ones with a
similarity transform (Umeyama) and reports centre errors relative to the scene size (diagonal of
the bounding box of the true camera centres and, when SCENE/object.ply exists, the objects), the
rotation error after alignment and the focal length error.
"""
import json
import os
import sys
import tempfile

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from macro_nerf.data import sfm  # noqa: E402
from macro_nerf.data.colmap import similarity_align  # noqa: E402
from macro_nerf.nerf.camera import llff_to_opengl  # noqa: E402

flags.DEFINE_string("scene", None, "Scene folder with poses_bounds.npy (the truth).")
flags.DEFINE_string("image_dir", "images_sharp", "Photos to run structure-from-motion on.")
flags.DEFINE_string("output", "", "Where to write the recovered scene (default: a temp folder).")
flags.DEFINE_string("camera_model", "SIMPLE_RADIAL", "COLMAP camera model.")
FLAGS = flags.FLAGS


def ply_vertices(path):
  import trimesh  # pylint: disable=import-outside-toplevel
  return np.asarray(trimesh.load(path, process=False).vertices, np.float64)


def main(_):
  out = FLAGS.output or tempfile.mkdtemp(prefix="colmap_acc_")
  if FLAGS.output == "":
    os.rmdir(out)
  report = sfm.run(os.path.join(FLAGS.scene, FLAGS.image_dir), out,
                           camera_model=FLAGS.camera_model, overwrite=True)
  truth = np.load(os.path.join(FLAGS.scene, "poses_bounds.npy"))
  names = sorted(f for f in os.listdir(os.path.join(FLAGS.scene, "images")))
  gt = llff_to_opengl(truth[:, :15].reshape(-1, 3, 5)[:, :, :4])
  gt_by = {os.path.splitext(n)[0]: g for n, g in zip(names, gt)}
  rec = np.load(os.path.join(out, "poses_bounds.npy"))
  rec_names = sorted(os.listdir(os.path.join(out, "images")))
  est = llff_to_opengl(rec[:, :15].reshape(-1, 3, 5)[:, :, :4])
  g = np.stack([gt_by[os.path.splitext(n)[0]] for n in rec_names])
  s, r, t = similarity_align(est[:, :, 3], g[:, :, 3])
  aligned = s * est[:, :, 3] @ r.T + t
  err = np.linalg.norm(aligned - g[:, :, 3], axis=1)
  pts = [g[:, :, 3]]
  obj = os.path.join(FLAGS.scene, "object.ply")
  if os.path.isfile(obj):
    pts.append(ply_vertices(obj))
  size = float(np.linalg.norm(np.ptp(np.concatenate(pts), 0)))
  cam_size = float(np.linalg.norm(np.ptp(g[:, :, 3], 0)))
  rot = np.einsum("nij,nik->njk", r @ est[:, :, :3], g[:, :, :3])  # R_gt^T R_est_aligned
  ang = np.degrees(np.arccos(np.clip((np.trace(rot, axis1=1, axis2=2) - 1) / 2, -1, 1)))
  focal_true = truth[0, 14] * rec[0, 9] / truth[0, 9]  # f scaled to the recovered width
  print(json.dumps({
      "scene": FLAGS.scene, "image_dir": FLAGS.image_dir, "registered": report["registered"],
      "total": report["total"], "reprojection_px": round(report["mean_reprojection_error_px"], 3),
      "scene_size": size, "camera_spread": cam_size,
      "centre_err_mean_pct_scene": 100 * float(err.mean()) / size,
      "centre_err_max_pct_scene": 100 * float(err.max()) / size,
      "centre_err_mean_pct_cameras": 100 * float(err.mean()) / cam_size,
      "centre_err_max_pct_cameras": 100 * float(err.max()) / cam_size,
      "rotation_err_max_deg": float(ang.max()),
      "focal_err_pct": 100 * float(np.median(np.abs(rec[:, 14] - focal_true)) / focal_true),
      "sfm_seconds": report["sfm_seconds"], "output": out}, indent=1))


if __name__ == "__main__":
  flags.mark_flag_as_required("scene")
  app.run(main)
