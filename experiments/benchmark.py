"""Throughput and quality at a fixed budget, as JSON.

  python experiments/benchmark.py --config=configs/llff.py --config.data.path=SCENE \
      [--modes=defocus,naive,oracle] [--config.train.max_steps=N] [--workdir=ROOT]

Modes, all with the same config and step budget:
  defocus  the learned thin-lens blur, trained on the blurred photos (data.image_dir);
  naive    the same field trained on the blurred photos as if they were sharp;
  oracle   the same field trained on the all-in-focus images (images_sharp), an upper bound.
Without --modes the config runs as given. Per mode: steady-state steps/s and rays/s of every kind of
step (compile excluded), compile seconds, wall time, held-out PSNR/SSIM and, when the scene has
images_sharp, the PSNR of the deblurred training views. Peak RSS is the process's maximum so far.
The last line is one JSON object with every mode and, for defocus, the cost of a patch step
relative to a plain ray step at the same number of supervised pixels.
"""
import copy
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
_WORKDIR = flags.DEFINE_string("workdir", None, "Root for the runs (default: a temporary folder).")
_MODES = flags.DEFINE_list("modes", [], "Any of defocus, naive, oracle (default: the config as is).")


def mode_config(config, mode):
  c = copy.deepcopy(config)
  sharp = os.path.isdir(os.path.join(c.data.path, "images_sharp"))
  if mode in ("defocus", "naive"):
    c.defocus.enabled = mode == "defocus"
    if sharp and not c.data.eval_sharp_dir:
      c.data.eval_sharp_dir = "images_sharp"
  elif mode == "oracle":
    c.defocus.enabled = False
    c.data.image_dir = "images_sharp"
  else:
    raise ValueError(f"--modes: unknown mode {mode!r}")
  return c


def run_one(config, wd):
  _, _, _, summary = train.train(config, wd, progress=False)
  metrics = eval_lib.evaluate(wd, progress=False)
  phases = summary["phase_steps_per_sec"]
  return {
      "image_dir": config.data.image_dir, "defocus": bool(config.defocus.enabled),
      "steps": summary["steps"], "batch_size": config.train.batch_size,
      "steps_per_sec": summary["steps_per_sec"],
      "rays_per_sec": (summary["steps_per_sec"] or 0) * config.train.batch_size,
      "phase_steps_per_sec": phases,
      "patch_vs_ray_step_cost": (phases["ray"] / phases["patch"]
                                 if "ray" in phases and "patch" in phases else None),
      "compile_s": summary["compile_s"], "train_wall_s": summary["wall_s"],
      "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
      "test_psnr": metrics.get("test", {}).get("psnr"), "test_ssim": metrics.get("test", {}).get("ssim"),
      "train_deblur_psnr": metrics.get("train_deblur", {}).get("psnr"),
      "workdir": wd,
  }


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  root = _WORKDIR.value or tempfile.mkdtemp(prefix="macro_nerf_bench_")
  if not _MODES.value:
    out = {"scene": config.data.path, **run_one(config, root)}
  else:
    out = {"scene": config.data.path, "max_steps": config.train.max_steps}
    for mode in _MODES.value:
      out[mode] = run_one(mode_config(config, mode), os.path.join(root, mode))
      print(json.dumps({"mode": mode, **out[mode]}), flush=True)
  print(json.dumps(out))


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
