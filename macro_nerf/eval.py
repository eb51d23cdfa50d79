"""Evaluation: python -m macro_nerf.eval --workdir=WD.

Renders every held-out view (WD/eval/test/<name>.png) and every training view
(WD/eval/train_deblur/<name>.png), their depth maps (WD/eval/depth/, .npy in input world units and a
colour-mapped .png), and writes WD/eval/metrics.json.
"""
import json
import os
import sys

import numpy as np
from absl import app, flags, logging

from macro_nerf import image_utils, parallel, pipeline
from macro_nerf import lens as lens_lib
from macro_nerf.data import DataError



def lens_report(params, scene):
  """Per training view: focus distance (world units) and kappa (pixels x world units)."""
  if "lens" not in params:
    return {}
  idx = scene.train_idx
  focus, kappa = lens_lib.lens_in_world(params["lens"], scene.near[idx], scene.far[idx],
                                        scene.scale)
  return {scene.names[i]: {"focus_distance": float(f), "kappa": float(k)}
          for i, f, k in zip(idx, focus, kappa)}


def evaluate(workdir, progress=True, splits=("test", "train_deblur")):
  from tqdm import tqdm
  config, scene, model, restored = pipeline.load_run(workdir)
  params = pipeline.model_params(restored.params)
  render_fn = pipeline.make_render_fn(model)
  out_dir = os.path.join(workdir, "eval")
  main_process = parallel.is_main()  # every process renders its share; process 0 writes
  metrics = {"step": int(parallel.to_host(restored.step))}
  splits = [s for s in [("test", scene.test_idx, scene.images),
                        ("train_deblur", scene.train_idx, scene.sharp_images)] if s[0] in splits]
  data = pipeline.device_data(scene, np.arange(len(scene.names)))
  for split, idx, reference in splits:
    if main_process:
      os.makedirs(os.path.join(out_dir, split), exist_ok=True)
      os.makedirs(os.path.join(out_dir, "depth"), exist_ok=True)
    rows = {}
    for i in tqdm(idx, desc=f"eval {split}", disable=not (progress and main_process)):
      out = pipeline.render_view(render_fn, params, data, int(i), scene.height, scene.width,
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
        rows[scene.names[i]] = {"psnr": image_utils.psnr(rgb, ref), "ssim": image_utils.ssim(rgb, ref)}
    if rows:
      metrics[split] = {"psnr": float(np.mean([r["psnr"] for r in rows.values()])),
                        "ssim": float(np.mean([r["ssim"] for r in rows.values()])),
                        "views": rows}
  metrics["lens"] = lens_report(parallel.to_host(restored.params), scene)
  if not main_process:
    return metrics
  tmp = os.path.join(out_dir, ".metrics.json.tmp")
  with open(tmp, "w") as f:
    json.dump(metrics, f, indent=1)
  os.replace(tmp, os.path.join(out_dir, "metrics.json"))
  return metrics


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    parallel.initialize_from_flags()
    m = evaluate(flags.FLAGS.workdir)
  except (DataError, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {e}")
  if parallel.is_main():
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "views"} if isinstance(v, dict)
                    else v for k, v in m.items()}))


def console_main():
  flags.DEFINE_string("workdir", None, "Training workdir to evaluate.")
  parallel.define_flags()
  flags.mark_flags_as_required(["workdir"])
  app.run(main)


if __name__ == "__main__":
  console_main()
