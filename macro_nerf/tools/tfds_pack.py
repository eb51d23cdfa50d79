"""Scene folders in, a TFDS dataset out (the [tfds] extra: pip install 'macro_nerf[tfds]').

  python -m macro_nerf.tools.tfds_pack SCENE [SCENE ...] --data_dir=DIR [--overwrite]
  python -m macro_nerf.train --config=configs/llff.py --workdir=WD \\
      --config.data.path=tfds:SPLIT --config.data.tfds_data_dir=DIR

Each SCENE folder (LLFF poses_bounds.npy + images/, transforms.json, or a COLMAP sparse/0: whatever
the folder loader reads) becomes split `basename` (lower-cased, sanitised to [a-z0-9_]) of the
`macro_nerf_scenes` dataset in DIR/macro_nerf_scenes/1.0.0 (array_record, one example per view;
see macro_nerf/data/tfds_scenes.py). All the scenes go into one dataset, built in a temporary folder and
moved into place at the end: a failure leaves DIR as it was.
"""
import sys

from absl import app, flags, logging

from macro_nerf import cli
from macro_nerf.data import tfds_scenes
from macro_nerf.errors import Error, one_line

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("data_dir", "", "TFDS data dir to write (default: TFDS's, "
                      "$TFDS_DATA_DIR or ~/tensorflow_datasets).")
  flags.DEFINE_string("image_dir", "images", "Image folder inside each scene to pack.")
  flags.DEFINE_bool("overwrite", False, "Replace an existing macro_nerf_scenes dataset in data_dir.")


def main(argv):
  if len(argv) < 2:
    sys.exit("usage: python -m macro_nerf.tools.tfds_pack SCENE [SCENE ...] --data_dir=DIR")
  logging.set_verbosity(logging.WARNING)  # TFDS logs every shard it writes at INFO
  try:
    tfds_scenes.import_tfds().disable_progress_bar()
    data_dir = FLAGS.data_dir or tfds_scenes.default_data_dir()
    cli.check_output(data_dir, "--data_dir")
    counts = tfds_scenes.pack(argv[1:], data_dir, FLAGS.image_dir, FLAGS.overwrite)
  except (Error, OSError) as e:
    sys.exit(f"error: {one_line(e)}")
  dest = tfds_scenes.dataset_dir(data_dir)
  print(f"tfds_pack: wrote {dest}: " + ", ".join(f"{s} ({n} views)" for s, n in counts.items()))


def console_main():
  define_flags()
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  console_main()
