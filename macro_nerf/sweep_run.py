"""One sweep run in one process: train (or resume), evaluate, print the result row as JSON.

  python -m macro_nerf.sweep_run --config=CONFIG --workdir=WD [--config.key=value ...]
"""
import json
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from macro_nerf import cli, config_check
from macro_nerf.errors import Error, one_line
from macro_nerf.export.evaluation import evaluate
from macro_nerf.training.loop import train
from macro_nerf.training.sweep import focus_error


def _add_wall(wd, seconds):
  """Training seconds over every invocation that finished its training (a run resumed after a
  kill adds its own; the killed part is not counted)."""
  path = os.path.join(wd, "train_wall.json")
  total = seconds
  if os.path.isfile(path):
    with open(path) as f:
      total += json.load(f)["train_wall_s"]
  with open(path + ".tmp", "w") as f:
    json.dump({"train_wall_s": total}, f)
  os.replace(path + ".tmp", path)
  return total


def _logged_steps_per_sec(wd):
  """Median logged throughput, for a run whose training had already finished before this call."""
  with open(os.path.join(wd, "train_log.jsonl")) as f:
    rates = sorted(json.loads(l)["steps_per_sec"] for l in f if l.strip())
  return rates[len(rates) // 2] if rates else None


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config = config_check.expand_paths(flags.FLAGS.config)
  wd = os.path.expanduser(flags.FLAGS.workdir)
  try:
    config_check.check(config)
    _, _, _, summary = train(config, wd, progress=False)
    wall = _add_wall(wd, summary["wall_s"])
    metrics = evaluate(wd, progress=False)
  except (Error, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {one_line(e)}")
  row = {"test_psnr": metrics.get("test", {}).get("psnr"),
         "test_ssim": metrics.get("test", {}).get("ssim"),
         "train_deblur_psnr": metrics.get("train_deblur", {}).get("psnr"),
         "focus_err_median": focus_error(metrics, config.data.path),
         "steps_per_sec": summary["steps_per_sec"] or _logged_steps_per_sec(wd), "wall_s": wall,
         "steps": metrics["step"]}
  print(json.dumps(row))


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Run folder.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=cli.flags_parser(__doc__))
