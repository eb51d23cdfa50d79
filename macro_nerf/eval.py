"""Evaluation: python -m macro_nerf.eval --workdir=WD.

Renders every held-out view (WD/eval/test/<name>.png) and every training view
(WD/eval/train_deblur/<name>.png; `--splits=test` skips them), their depth maps (WD/eval/depth/,
.npy in input world units and a colour-mapped .png), and writes WD/eval/metrics.json. The work is in
macro_nerf/export/evaluation.py.
"""
import json
import os

from absl import app, flags

from macro_nerf import cli, parallel
from macro_nerf.export import evaluation


def main(argv):
  del argv
  workdir = flags.FLAGS.workdir  # `~` expanded by cli
  if os.path.isdir(workdir):  # else evaluate says there is no run there
    cli.require_output(os.path.join(workdir, "eval"), "--workdir")
  m = cli.run_or_exit(evaluation.evaluate, workdir, splits=tuple(flags.FLAGS.splits))
  if parallel.is_main():
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "views"} if isinstance(v, dict)
                      else v for k, v in m.items()}))


def console_main():
  flags.DEFINE_string("workdir", None, "Training workdir to evaluate.")
  flags.DEFINE_list("splits", ["test", "train_deblur"],
                    "What to render: test (held-out views), train_deblur (training views).")
  parallel.define_flags()
  flags.mark_flags_as_required(["workdir"])
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  console_main()
