"""Does our blur reproduce a scene's blurred photos? Blurs images_sharp with the true depth maps and
lens.json through macro_nerf.defocus (linear light vs sRGB, normalised vs plain scatter) and prints
the PSNR against images/ as JSON, beside the sharp-vs-blurred PSNR.

  python experiments/forward_model_check.py ../shared/scenes/pebbles [--views=5]
"""
import argparse
import json
import os
import sys

import jax.numpy as jnp
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from macro_nerf.defocus import blur as defocus  # noqa: E402
from macro_nerf.image_utils import linear_to_srgb, psnr, srgb_to_linear  # noqa: E402


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("scene")
  ap.add_argument("--views", type=int, default=5)
  ap.add_argument("--margin", type=int, default=8)
  args = ap.parse_args()
  m = args.margin
  views = [v for v in json.load(open(os.path.join(args.scene, "lens.json")))["views"]
           if not v["held_out_sharp"]][:args.views]
  rows = {}
  for v in views:
    f = v["file"]
    load = lambda d: np.asarray(Image.open(os.path.join(args.scene, d, f)), np.float64)[..., :3] / 255
    sharp, blurred = load("images_sharp"), load("images")
    z = np.load(os.path.join(args.scene, "depth", os.path.splitext(f)[0] + ".npy"))
    r = np.minimum(v["coc_scale_px"] * np.abs(1 / z - 1 / v["focus_distance"]),
                   defocus.max_radius(m))
    pad = lambda a: np.pad(a, [(m, m), (m, m)] + [(0, 0)] * (a.ndim - 2), mode="edge")
    row = {"sharp_vs_blurred": psnr(sharp, blurred)}
    for space in ("linear", "srgb"):
      src = np.asarray(srgb_to_linear(sharp)) if space == "linear" else sharp
      for norm in (True, False):
        out = np.asarray(defocus.blur_image(jnp.asarray(pad(src), jnp.float32),
                                            jnp.asarray(pad(r), jnp.float32), m, 1.0, norm))
        if space == "linear":
          out = np.asarray(linear_to_srgb(np.clip(out, 0, 1)))
        row[f"{space}_{'normalised' if norm else 'plain'}"] = psnr(out, blurred)
    rows[f] = row
  mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
  print(json.dumps({"scene": args.scene, "mean_psnr": mean, "views": rows}))


if __name__ == "__main__":
  main()
