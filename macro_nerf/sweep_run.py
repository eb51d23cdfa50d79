"""One sweep run in one process: train (or resume), evaluate, print the result row as JSON.

  python -m macro_nerf.sweep_run --config=CONFIG --workdir=WD [--config.key=value ...]
"""
import json
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from macro_nerf import eval as eval_lib
from macro_nerf import sweep, train
from macro_nerf.data import DataError


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config = flags.FLAGS.config
  wd = flags.FLAGS.workdir
  try:
    _, _, _, summary = train.train(config, wd, progress=False)
    metrics = eval_lib.evaluate(wd, progress=False)
  except (DataError, train.TrainingError, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {e}")
  row = {"test_psnr": metrics.get("test", {}).get("psnr"),
         "test_ssim": metrics.get("test", {}).get("ssim"),
         "train_deblur_psnr": metrics.get("train_deblur", {}).get("psnr"),
         "focus_err_median": sweep.focus_error(metrics, config.data.path),
         "steps_per_sec": summary["steps_per_sec"], "wall_s": summary["wall_s"],
         "steps": metrics["step"]}
  print(json.dumps(row))


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Run folder.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
