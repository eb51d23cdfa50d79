"""How right is a run's geometry, and where is it wrong? Rendered z-depth of every training view
against the scene's true depth maps (SCENE/depth/<stem>.npy, world units), as JSON.

  python experiments/depth_accuracy.py ../shared/scenes/pebbles WD [WD ...] [--bands=5]

Per run: the median rendered/true depth ratio, the fraction of pixels within 3 % of the truth, and
the same per horizontal image band (top to bottom). Pebbles, configs/llff.py, 3000 steps, top
fifth of the frame (the far ground): median ratio 0.72 (13 % of pixels within 3 %) with defocus on,
0.72 (12 %) naive, and 0.997 (62 %) for the naive model trained on the sharp photos. Blur, not the
sampler, leaves that ground too near; in the exported mesh it is the sheet behind the objects.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from macro_nerf.nerf import render  # noqa: E402
from macro_nerf.nerf.model import model_params  # noqa: E402
from macro_nerf.training.checkpoints import load_run  # noqa: E402


def rendered_depths(workdir):
  """The run's scene and the world-unit z-depth maps (N, H, W) of its training views."""
  config, scene, model, state = load_run(workdir)
  params = model_params(state.params)
  render_fn = render.make_render_fn(model)
  data = render.device_data(scene, np.arange(len(scene.names)), render_fn.mesh)
  maps = [render.render_view(render_fn, params, data, int(k), scene.height, scene.width,
                               config.eval.chunk)["depth"] / scene.scale for k in scene.train_idx]
  return scene, np.stack(maps).astype(np.float64)


def summary(ratio):
  return {"median_ratio": float(np.median(ratio)),
          "within_3pct": float(np.mean(np.abs(ratio - 1) <= 0.03))}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("scene")
  ap.add_argument("workdirs", nargs="+")
  ap.add_argument("--bands", type=int, default=5, help="horizontal image bands, top to bottom")
  args = ap.parse_args()
  out = {}
  for wd in args.workdirs:
    scene, maps = rendered_depths(wd)
    truth = []
    for n in [scene.names[k] for k in scene.train_idx]:
      path = os.path.join(args.scene, "depth", os.path.splitext(n)[0] + ".npy")
      if not os.path.isfile(path):
        sys.exit(f"{path}: no true depth map for view {n}")
      truth.append(np.load(path).astype(np.float64))
    truth = np.stack(truth)
    if maps.shape != truth.shape:
      sys.exit(f"{args.scene}/depth: maps {truth.shape[1:]} but the run renders {maps.shape[1:]}")
    ratio = maps / truth
    rows = np.array_split(np.arange(ratio.shape[1]), args.bands)
    out[wd] = summary(ratio) | {
        "views": len(maps),
        "bands_top_to_bottom": [summary(ratio[:, r]) for r in rows]}
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  main()
