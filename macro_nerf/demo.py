"""The built-in demo: python -m macro_nerf.demo [--workdir=macro_nerf_demo].

Renders a small synthetic scene with the project's own thin-lens path tracer (macro_nerf.synthetic),
trains configs/demo.py on it, evaluates, and writes a side-by-side image and a summary.
"""
import json
import os
import sys
import time

import numpy as np
from absl import app, flags, logging

from configs import demo as demo_config
from macro_nerf import eval as eval_lib
from macro_nerf import image_utils, synthetic, train



def run(workdir, steps=None, progress=True):
  t0 = time.time()
  scene_dir = os.path.join(workdir, "scene")
  if not os.path.isfile(os.path.join(scene_dir, "lens.json")):
    print(f"rendering the synthetic scene into {scene_dir} ...")
    synthetic.render_scene(scene_dir, progress=progress, overwrite=True)
  config = demo_config.get_config()
  config.data.path = scene_dir
  # The defocus model is not in yet: train on the all-in-focus renders (the oracle).
  config.data.image_dir = "images_sharp"
  if steps is not None:
    config.train.max_steps = steps
  run_dir = os.path.join(workdir, "run")
  _, _, _, summary = train.train(config, run_dir, progress=progress)
  metrics = eval_lib.evaluate(run_dir, progress=progress)
  # Side by side for the first held-out view: blurred input of a neighbour is not comparable, so show
  # render | ground truth | depth.
  names = sorted(os.listdir(os.path.join(run_dir, "eval", "test")))
  rows = []
  for n in names[:3]:
    render = image_utils.load_rgb(os.path.join(run_dir, "eval", "test", n))
    gt = image_utils.load_rgb(os.path.join(scene_dir, "images_sharp", n))
    depth = image_utils.load_rgb(os.path.join(run_dir, "eval", "depth", n))
    rows.append(np.concatenate([render, gt, depth], 1))
  side = os.path.join(workdir, "side_by_side.png")
  image_utils.save_png(side, np.concatenate(rows, 0))
  result = {"test_psnr": metrics.get("test", {}).get("psnr"),
            "test_ssim": metrics.get("test", {}).get("ssim"),
            "train_steps": summary["steps"], "train_wall_s": summary["wall_s"],
            "total_wall_s": time.time() - t0, "side_by_side": side}
  with open(os.path.join(workdir, "summary.json"), "w") as f:
    json.dump(result, f, indent=1)
  return result


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  print(json.dumps(run(flags.FLAGS.workdir, flags.FLAGS.steps), indent=1))


def console_main():
  flags.DEFINE_string("workdir", "macro_nerf_demo", "Where the scene and the run go.")
  flags.DEFINE_integer("steps", None, "Override the demo's training steps.")
  app.run(main)


if __name__ == "__main__":
  sys.exit(console_main())
