"""Evaluation of a run: every held-out view and every training view rendered sharp, their depth
maps, and PSNR/SSIM against the held-out photos and (data.eval_sharp_dir) sharp training views.

Writes WD/eval/test/<name>.png, WD/eval/train_deblur/<name>.png, WD/eval/depth/ (.npy in input
world units and a colour-mapped .png) and WD/eval/metrics.json (with the learned lens per view).
"""
import json
import os

import numpy as np
from tqdm import tqdm

from macro_nerf import image_utils, parallel
from macro_nerf.defocus import lens as lens_lib
from macro_nerf.defocus.focus_init import lens_trained, warmup_steps
from macro_nerf.nerf import render
from macro_nerf.nerf.model import model_params
from macro_nerf.training.checkpoints import load_run


SPLITS = ("test", "train_deblur")


def lens_metrics(config, scene, state):
  """The learned lens per training view, and whether it was learned at all: a run stopped
  before its warm-up ended still has the initial guess, and says so."""
  params = parallel.to_host(state.params)
  if "lens" not in params:
    return {"lens": {}}
  step = int(parallel.to_host(state.step))
  out = {"lens": lens_lib.lens_report(params, scene), "lens_trained": lens_trained(config, step)}
  if not out["lens_trained"]:
    out["lens_note"] = (f"initial lens, not learned: the run stopped at step {step} and its "
                        f"lens trains after step {warmup_steps(config)}")
  return out


def evaluate(workdir, progress=True, splits=SPLITS):
  unknown = [s for s in splits if s not in SPLITS]
  if unknown:
    raise ValueError(f"unknown split {unknown[0]!r} (use {', '.join(SPLITS)})")
  config, scene, model, restored = load_run(workdir)
  params = model_params(restored.params)
  render_fn = render.make_render_fn(model)
  out_dir = os.path.join(workdir, "eval")
  main_process = parallel.is_main()  # every process renders its share; process 0 writes
  metrics = {"step": int(parallel.to_host(restored.step))}
  splits = [s for s in [("test", scene.test_idx, scene.images),
                        ("train_deblur", scene.train_idx, scene.sharp_images)]
            if s[0] in splits and len(s[1])]
  data = render.device_data(scene, np.arange(len(scene.names)))
  for split, idx, reference in splits:
    if main_process:
      os.makedirs(os.path.join(out_dir, split), exist_ok=True)
      os.makedirs(os.path.join(out_dir, "depth"), exist_ok=True)
    rows = {}
    for i in tqdm(idx, desc=f"eval {split}", disable=not (progress and main_process)):
      out = render.render_view(render_fn, params, data, int(i), scene.height, scene.width,
                               config.eval.chunk)
      rgb = np.asarray(image_utils.linear_to_srgb(out["rgb"], xnp=np))
      stem = os.path.splitext(scene.names[i])[0]
      depth = out["depth"] / scene.scale
      if main_process:
        image_utils.save_png(os.path.join(out_dir, split, stem + ".png"), rgb)
        np.save(os.path.join(out_dir, "depth", stem + ".npy"), depth.astype(np.float32))
        image_utils.save_png(os.path.join(out_dir, "depth", stem + ".png"),
                             image_utils.colorize_depth(depth))
      if reference is not None:
        ref = reference[i]
        rows[scene.names[i]] = {"psnr": image_utils.psnr(rgb, ref),
                                "ssim": image_utils.ssim(rgb, ref)}
    if rows:
      metrics[split] = {"psnr": float(np.mean([r["psnr"] for r in rows.values()])),
                        "ssim": float(np.mean([r["ssim"] for r in rows.values()])),
                        "views": rows}
  metrics.update(lens_metrics(config, scene, restored))
  if not main_process:
    return metrics
  tmp = os.path.join(out_dir, ".metrics.json.tmp")
  with open(tmp, "w") as f:
    json.dump(metrics, f, indent=1)
  os.replace(tmp, os.path.join(out_dir, "metrics.json"))
  return metrics
