"""Training: python -m macro_nerf.train --config=llff --workdir=WD [--config.key=value ...].

--config takes a shipped config's name (llff, object, demo, tabletop) or a config file. Resumes
from the newest checkpoint in WD. The loop is macro_nerf/training/loop.py.
"""
import json
import sys

from absl import app, flags
from ml_collections import config_flags

from macro_nerf import cli, parallel
from macro_nerf.training.loop import train


def main(argv):
  del argv
  config = flags.FLAGS.config
  if not config.data.path:
    sys.exit("error: set --config.data.path=SCENE_FOLDER")
  _, _, _, summary = cli.run_or_exit(train, config, flags.FLAGS.workdir,
                                     overwrite=flags.FLAGS.overwrite)
  if parallel.is_main():
    print(json.dumps(summary))


def console_main():
  # Flags are defined here, not at import, so modules can import each other without clashes.
  config_flags.DEFINE_config_file("config", None, "Config name or file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, logs and results go.")
  flags.DEFINE_bool("overwrite", False, "Start over in a workdir that holds a different run.")
  parallel.define_flags()
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  console_main()
