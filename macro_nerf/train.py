"""Training: python -m macro_nerf.train --config=llff --workdir=WD --config.data.path=SCENE
[--config.key=value ...].

Trains a radiance field on a scene folder's photos; with defocus.enabled it learns each photo's
lens blur too, so the field comes out sharp. Resumes from the newest checkpoint in WD, and refuses a
WD that holds a run with another config (--overwrite starts over). Then:
python -m macro_nerf.eval --workdir=WD (renders, metrics.json), macro_nerf.render, export_mesh.
"""
import json
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from macro_nerf import cli, config_check, parallel
from macro_nerf.training.loop import train


def main(argv):
  del argv
  config = config_check.expand_paths(flags.FLAGS.config)
  if not config.data.path:
    sys.exit("error: set --config.data.path=SCENE_FOLDER")
  # Checked before any setup: nothing is read or written for a bad value or workdir.
  cli.exit_on_error(config_check.check, config)
  workdir = os.path.expanduser(flags.FLAGS.workdir)
  cli.require_output(workdir, "--workdir")
  _, _, _, summary = cli.run_or_exit(train, config, workdir, overwrite=flags.FLAGS.overwrite)
  if parallel.is_main():
    print(json.dumps(summary))


def console_main():
  # Flags are defined here, not at import, so modules can import each other without clashes.
  config_flags.DEFINE_config_file("config", None, "Config name or file (see Configs above).",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, logs and results go.")
  flags.DEFINE_bool("overwrite", False, "Start over in a workdir that holds a different run.")
  parallel.define_flags()
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  console_main()
