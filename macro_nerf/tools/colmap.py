"""Photos in, poses out: structure-from-motion with pycolmap -> a scene folder macro_nerf reads.

  python -m macro_nerf.tools.colmap IMAGES_DIR --output SCENE            # SIFT, matching, mapping
  python -m macro_nerf.tools.colmap IMAGES_DIR --output SCENE --sparse MODEL   # existing sparse/0

SCENE gets images/ (the registered photos), poses_bounds.npy, transforms.json, sparse/0 and
colmap_report.json, ready for `python -m macro_nerf.train --config.data.path=SCENE`. Photos are
taken upright, as their EXIF orientation says; hidden files (`._IMG.jpg`, `.DS_Store`) are skipped.
Details: macro_nerf/data/sfm.py.
"""
import os
import sys

from absl import app, flags

from macro_nerf import cli
from macro_nerf.data import colmap as colmap_model, sfm
from macro_nerf.errors import Error, one_line

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("output", None, "Scene folder to write (must not exist, or be empty).")
  flags.DEFINE_string("sparse", None, "Existing COLMAP model folder (e.g. sparse/0, .bin or .txt): "
                      "skip structure-from-motion.")
  flags.DEFINE_string("camera_model", "SIMPLE_RADIAL", "COLMAP camera model to fit: "
                      + ", ".join(colmap_model.COLMAP_MODELS))
  flags.DEFINE_bool("single_camera", True, "All photos share one camera (same lens and zoom).")
  flags.DEFINE_enum("matcher", "exhaustive", ["exhaustive", "sequential"],
                    "Exhaustive for up to a few hundred photos; sequential for ordered sequences.")
  flags.DEFINE_float("min_registered", 0.8, "Fail when fewer than this share of photos register.")
  flags.DEFINE_bool("overwrite", False, "Replace an existing non-empty output folder.")


def check_output(output, overwrite):
  """The scene folder and the folder it is built in beside it can be written (before any work)."""
  output = os.path.abspath(output)
  if not (overwrite and os.path.isfile(output)):  # --overwrite replaces a file there too
    cli.check_output(output, "--output")
  cli.check_output(os.path.dirname(output), "--output's folder")


def main(argv):
  if len(argv) != 2 or not FLAGS.output:
    sys.exit("usage: python -m macro_nerf.tools.colmap IMAGES_DIR --output SCENE [--sparse MODEL]")
  try:
    check_output(FLAGS.output, FLAGS.overwrite)
    r = sfm.run(argv[1], FLAGS.output, FLAGS.sparse, FLAGS.camera_model, FLAGS.single_camera,
                FLAGS.matcher, FLAGS.min_registered, FLAGS.overwrite)
  except Error as e:
    sys.exit(f"error: {one_line(e)}")
  print(f"colmap: wrote {FLAGS.output}: {r['registered']}/{r['total']} photos, "
        f"{r['points3D']} points, reprojection error {r['mean_reprojection_error_px']:.2f} px")


def console_main():
  define_flags()
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  console_main()
