"""The built-in demo: python -m macro_nerf.demo [--workdir=macro_nerf_demo].

Renders a small synthetic scene with the project's own thin-lens path tracer
(macro_nerf/scenes/synthetic.py), trains configs/demo.py on the blurred photos (defocus model on),
evaluates, and writes side_by_side.png (blurred input | deblurred | ground truth, with PSNRs)
and summary.json.
"""
import json
import os
import sys
import time

import numpy as np
from absl import app, flags, logging
from PIL import Image, ImageDraw

from macro_nerf import config_files, image_utils
from macro_nerf.export.evaluation import evaluate
from macro_nerf.scenes import synthetic
from macro_nerf.training.loop import train



def _labelled(img, text):
  """img with a one-line caption strip on top (Pillow's built-in font: no download)."""
  strip = Image.new("RGB", (img.shape[1], 12), (0, 0, 0))
  ImageDraw.Draw(strip).text((2, 0), text, fill=(255, 255, 255))
  return np.concatenate([np.asarray(strip, np.float32) / 255.0, img], 0)


def run(workdir, steps=None, progress=True):
  t0 = time.time()
  scene_dir = os.path.join(workdir, "scene")
  if not os.path.isfile(os.path.join(scene_dir, "lens.json")):
    print(f"rendering the synthetic scene into {scene_dir} ...")
    synthetic.render_scene(scene_dir, progress=progress, overwrite=True)
  config = config_files.load("demo")
  config.data.path = scene_dir
  config.data.eval_sharp_dir = "images_sharp"  # only to score the deblurred views
  if steps is not None:
    config.train.max_steps = steps
  run_dir = os.path.join(workdir, "run")
  _, _, _, summary = train(config, run_dir, progress=progress)
  metrics = evaluate(run_dir, progress=progress)
  # Training views: the blurred photo the model saw | its deblurred render | the true sharp image.
  views = metrics["train_deblur"]["views"]
  rows, blurred_psnr = [], {}
  for n in sorted(views):
    blurred = image_utils.load_rgb(os.path.join(scene_dir, "images", n))
    gt = image_utils.load_rgb(os.path.join(scene_dir, "images_sharp", n))
    blurred_psnr[n] = image_utils.psnr(blurred, gt)
  for n in sorted(views)[:3]:
    blurred = image_utils.load_rgb(os.path.join(scene_dir, "images", n))
    deblur = image_utils.load_rgb(os.path.join(run_dir, "eval", "train_deblur", n))
    gt = image_utils.load_rgb(os.path.join(scene_dir, "images_sharp", n))
    rows.append(np.concatenate([_labelled(blurred, f"input {blurred_psnr[n]:.1f}dB"),
                                _labelled(deblur, f"deblur {views[n]['psnr']:.1f}dB"),
                                _labelled(gt, "truth")], 1))
  side = os.path.join(workdir, "side_by_side.png")
  image_utils.save_png(side, np.concatenate(rows, 0))
  lens = json.load(open(os.path.join(scene_dir, "lens.json")))
  true_focus = {v["file"]: v["focus_distance"] for v in lens["views"]}
  focus_err = [abs(v["focus_distance"] - true_focus[n]) / true_focus[n]
               for n, v in metrics["lens"].items()]
  result = {"blurred_input_psnr": float(np.mean(list(blurred_psnr.values()))),
            "deblurred_train_psnr": metrics["train_deblur"]["psnr"],
            "test_psnr": metrics.get("test", {}).get("psnr"),
            "focus_rel_err_median": float(np.median(focus_err)) if focus_err else None,
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
