"""Hyperparameter sweeps:

  python -m macro_nerf.sweep --config=llff --sweep=experiments/sweeps/NAME.py --workdir=ROOT \\
      [--workers=N | --ray [--ray_address=ADDR]] [--config.key=value ...]

A sweep file defines get_sweep() -> a list of {flattened config key: value}; `product` and
`zipped` (importable from here) build them. Every run trains and evaluates in ROOT/<run name>/;
ROOT/results.md and results.csv table them, and a sweep run again resumes where it stopped. How
runs are resumed and tabled: macro_nerf/training/sweep.py.
"""
import json
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from macro_nerf import cli, config_check
from macro_nerf.errors import SweepError, one_line
from macro_nerf.training import sweep as sweep_lib
from macro_nerf.training.sweep import product, zipped  # noqa: F401  (for sweep files)


def main(argv):
  del argv
  f = flags.FLAGS
  argv = cli.expand_user_args(cli.resolve_config_args(sys.argv))
  base = [a for a in argv[1:] if a.startswith("--config.")]
  config_file = cli.config_file_arg(argv)
  root = os.path.expanduser(f.workdir)
  cli.require_output(root, "--workdir")  # before the sweep file runs or anything is written
  try:
    rows = sweep_lib.sweep(config_file, os.path.expanduser(f.sweep), root, base, f.workers, f.ray,
                           f.ray_address, config=config_check.expand_paths(f.config))
  except SweepError as e:
    sys.exit(f"error: {one_line(e)}")
  failed = [r for r in rows if r.get("status") != "done"]
  print(json.dumps({"runs": len(rows), "failed": len(failed),
                    "table": os.path.join(root, "results.md")}))
  if failed:
    sys.exit(f"error: {len(failed)} run(s) failed, first: {failed[0]['run']}: {failed[0]['error']}")


def console_main():
  config_flags.DEFINE_config_file("config", None, "Base config: a name (see Configs above) or a "
                                  "file.", lock_config=True)
  flags.DEFINE_string("sweep", None, "Sweep file with get_sweep().")
  flags.DEFINE_string("workdir", None, "Root folder: one workdir per run, results tables.")
  flags.DEFINE_integer("workers", 1, "Runs at once on this machine.")
  flags.DEFINE_bool("ray", False, "Run every run as a Ray task.")
  flags.DEFINE_string("ray_address", None, "Ray cluster address (default: start Ray locally).")
  flags.mark_flags_as_required(["config", "sweep", "workdir"])
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  console_main()
