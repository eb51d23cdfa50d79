"""Throughput and quality at a fixed budget, as one JSON line.

  python experiments/benchmark.py --config=configs/llff.py --config.data.path=SCENE \
      [--config.train.max_steps=N] [--workdir=WD]

Reports steps/s and rays/s of the steady state (compile excluded), compile seconds, peak RSS of
the process and the held-out PSNR/SSIM after the budget.
"""
import json
import os
import resource
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from macro_nerf import eval as eval_lib  # noqa: E402
from macro_nerf import train  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir (default: a fresh temporary folder).")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  wd = _WORKDIR.value or tempfile.mkdtemp(prefix="macro_nerf_bench_")
  _, _, _, summary = train.train(config, wd, progress=False)
  metrics = eval_lib.evaluate(wd, progress=False)
  out = {
      "scene": config.data.path, "image_dir": config.data.image_dir,
      "defocus": bool(config.defocus.enabled), "steps": summary["steps"],
      "batch_size": config.train.batch_size, "steps_per_sec": summary["steps_per_sec"],
      "rays_per_sec": (summary["steps_per_sec"] or 0) * config.train.batch_size,
      "compile_s": summary["compile_s"], "train_wall_s": summary["wall_s"],
      "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
      "test_psnr": metrics.get("test", {}).get("psnr"), "test_ssim": metrics.get("test", {}).get("ssim"),
      "workdir": wd,
  }
  print(json.dumps(out))


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
