"""Where can focus variation deblur? For each training view's pixel, the smallest thin-lens radius
any training photo has at that surface point (true depth maps and lens.json, occlusion-tested
reprojection), and a run's deblurred-view error binned by it, as JSON.

  python experiments/focus_coverage.py ../shared/scenes/pebbles WD [WD ...] [--views=10]
      [--ceiling=ORACLE_WD,NAIVE_WD]

Points some photo has in focus can be recovered by focus-weighted ray steps; the others need
deconvolution. --ceiling prints what focus stacking alone could reach: the mean per-view PSNR of
images that take the oracle run's pixel wherever some photo has the point within 0.5, 1 or 2 px of
focus and the naive run's pixel elsewhere.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from macro_nerf.data.images import load_image as load  # noqa: E402
from macro_nerf.nerf import camera  # noqa: E402

BINS = [0, 0.5, 1, 2, 3, 5, np.inf]


def cameras(scene):
  """OpenGL c2w (N, 3, 4), image size and intrinsics from the scene's poses_bounds.npy."""
  p = np.load(os.path.join(scene, "poses_bounds.npy"))[:, :15].reshape(-1, 3, 5)
  h, w, f = p[0, :, 4]
  return camera.llff_to_opengl(p[:, :, :4]), int(h), int(w), (f, f, w / 2, h / 2)


def visible(points, c2w, intr, depth):
  """Pixel positions and z-depths of world points in a camera, and where they are in its frame,
  in front and not occluded (within 2 % of its depth map)."""
  h, w = depth.shape
  uv, z = camera.project(points, c2w, intr)
  u, v = uv[..., 0], uv[..., 1]
  ok = (u >= 0) & (u < w) & (v >= 0) & (v < h) & (z > 0)
  ui = np.clip(np.nan_to_num(u).astype(int), 0, w - 1)
  vi = np.clip(np.nan_to_num(v).astype(int), 0, h - 1)
  return uv, z, ok & (np.abs(depth[vi, ui] - z) < 0.02 * z)


def min_radius(i, train, c2w, h, w, intr, depth, lens):
  o, d = camera.image_rays(c2w[i], intr, h, w)
  x = o + d * depth[i][..., None]  # directions have unit z-depth component
  best = np.full((h, w), np.inf)
  for j in train:
    _, zj, vis = visible(x, c2w[j], intr, depth[j])
    r = lens[j]["coc_scale_px"] * np.abs(1 / zj - 1 / lens[j]["focus_distance"])
    best = np.where(vis & (r < best), r, best)
  return best


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("scene")
  ap.add_argument("workdirs", nargs="+")
  ap.add_argument("--views", type=int, default=10)
  ap.add_argument("--ceiling", default="", help="ORACLE_WD,NAIVE_WD")
  args = ap.parse_args()
  ceiling = args.ceiling.split(",") if args.ceiling else []
  limits = (0.5, 1.0, 2.0)
  ceil_psnr = {r: [] for r in limits}
  view_psnr = {}  # per run (and the blurred photos): PSNR of each view, for the same-view means
  lens = json.load(open(os.path.join(args.scene, "lens.json")))["views"]
  c2w, h, w, intr = cameras(args.scene)
  names = [os.path.splitext(v["file"])[0] for v in lens]
  depth = [np.load(os.path.join(args.scene, "depth", n + ".npy")) for n in names]
  train = [i for i, v in enumerate(lens) if not v["held_out_sharp"]]
  sums = {}
  for i in train[:args.views]:
    rmin = min_radius(i, train, c2w, h, w, intr, depth, lens)
    gt = load(os.path.join(args.scene, "images_sharp", lens[i]["file"]))
    errs = {"blurred_photo": ((load(os.path.join(args.scene, "images", lens[i]["file"])) - gt) ** 2).mean(-1)}
    for wd in args.workdirs + ceiling:
      errs[wd] = ((load(os.path.join(wd, "eval", "train_deblur", names[i] + ".png")) - gt) ** 2).mean(-1)
    for k, e in errs.items():
      view_psnr.setdefault(k, []).append(-10 * np.log10(e.mean()))
    for r in limits if ceiling else ():
      mixed = np.where(rmin < r, errs[ceiling[0]], errs[ceiling[1]])
      ceil_psnr[r].append(-10 * np.log10(mixed.mean()))
    for a, b in zip(BINS[:-1], BINS[1:]):
      sel = (rmin >= a) & (rmin < b)
      s = sums.setdefault(f"[{a},{b})", {"pixels": 0, **{k: 0.0 for k in errs}})
      s["pixels"] += int(sel.sum())
      for k, e in errs.items():
        s[k] += float(e[sel].sum())
  total = sum(s["pixels"] for s in sums.values())
  out = {}
  for key, s in sums.items():
    if s["pixels"]:
      out[key] = {"fraction": s["pixels"] / total,
                  **{k: -10 * np.log10(v / s["pixels"]) for k, v in s.items() if k != "pixels"}}
  result = {"scene": args.scene, "views": len(view_psnr["blurred_photo"]),
            "mean_psnr": {k: float(np.mean(v)) for k, v in view_psnr.items()},
            "min_radius_px_bins": out}
  if ceiling:
    result["ceiling_mean_psnr"] = {f"oracle where r_min < {r} px": float(np.mean(v))
                                   for r, v in ceil_psnr.items()}
  print(json.dumps(result))


if __name__ == "__main__":
  main()
