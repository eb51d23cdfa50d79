"""Development scenes of our own, rendered by the project's thin-lens ray tracer, into a cache.

  python experiments/make_scenes.py [--out=~/.cache/macro_nerf/dev_scenes] [--only=NAME,...]
      [--width=200 --height=150] [--lens_samples=48] [--workers=N]
  python experiments/make_scenes.py --only=fwd_far_lo --noise=0.008 --suffix=_n008  # one more
  python experiments/make_scenes.py --only=fwd_far_lo --views=15                   # -> _v15

The shared scenes (pebbles, garden) are noisy (0.015 per pixel) and have 33 views; these vary one
thing at a time (macro_nerf/scenes/variants.py, DEV_SCENES):
  fwd_far_lo    forward, 30 views, far backdrop never in focus, blur up to 10 px, noise 0.003
  fwd_far_hi    fwd_far_lo with noise 0.015 (same lenses, same noise-free images)
  fwd_few_lo    forward, 9 views (7 train), second object arrangement, blur up to 9 px, 0.003
  orbit_lo      orbit, 30 views, second arrangement with fine texture, blur up to 9 px, 0.003
  orbit_few_hi  orbit, 9 views (7 train), blur up to 9 px, noise 0.015
  fwd_fine_lo   forward close-up, 30 views, fine texture, blur up to 12 px, noise 0.003
Each folder has the layout of ../shared/scenes/pebbles: images/ (blurred photos with noise; every
8th a sharp held-out capture, also noisy), images_sharp/ (noise-free references), depth/NNN.npy
(float32 z-depth), lens.json (with "noise_std"), object.ply (spheres and boxes, world units),
poses_bounds.npy, transforms.json. OUT/scenes.json indexes them: what each covers, how it was
made, and its blur measured from the true depth (largest radius on the objects, smallest on the
backdrop). Scenes already complete with the same settings are skipped; each is written beside
its folder and renamed into place, so an interrupted run leaves nothing half-written.
"""
import argparse
import json
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from macro_nerf.scenes import synthetic, variants  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.expanduser("~"), ".cache", "macro_nerf", "dev_scenes")
FILES = ("lens.json", "poses_bounds.npy", "transforms.json", "object.ply")


def parse_args(argv):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default=DEFAULT_OUT, help="cache folder (outside the repository)")
  ap.add_argument("--only", default="", help="comma-separated scene names (default: all)")
  ap.add_argument("--width", type=int, default=200)
  ap.add_argument("--height", type=int, default=150)
  ap.add_argument("--lens_samples", type=int, default=48, help="rays per pixel (lens and jitter)")
  ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="render threads")
  ap.add_argument("--noise", type=float, default=None, help="override noise_std (sRGB units)")
  ap.add_argument("--views", type=int, default=None, help="override the number of views")
  ap.add_argument("--suffix", default=None,
                  help="name suffix of overridden scenes (default: _nNNN for noise in 1e-3, _vN)")
  ap.add_argument("--overwrite", action="store_true", help="re-render scenes that exist")
  return ap.parse_args(argv)


def plan(args):
  """[(folder name, DEV_SCENES entry with the overrides applied)] of the selected scenes."""
  names = [n for n in args.only.split(",") if n] or list(variants.DEV_SCENES)
  unknown = [n for n in names if n not in variants.DEV_SCENES]
  if unknown:
    sys.exit(f"unknown scene(s) {unknown}; known: {sorted(variants.DEV_SCENES)}")
  suffix = args.suffix
  if suffix is None:
    suffix = ("" if args.noise is None else f"_n{round(args.noise * 1000):03d}") + (
        "" if args.views is None else f"_v{args.views}")
  out = []
  for n in names:
    entry = json.loads(json.dumps(variants.DEV_SCENES[n]))  # a deep copy
    if args.noise is not None:
      entry["render"]["noise_std"] = args.noise
    if args.views is not None:
      entry["render"]["num_views"] = args.views
    if args.noise is not None or args.views is not None:
      entry["about"] = f"{n} with noise {entry['render'].get('noise_std', 0.0)}, " \
                       f"{entry['render']['num_views']} views"
    out.append((n + suffix, entry))
  return out


def settings(entry, args):
  """What decides a scene's pixels (compared on resume)."""
  return {"scene": entry["scene"], "render": entry["render"], "width": args.width,
          "height": args.height, "lens_samples": args.lens_samples}


def is_complete(path, num_views):
  if not all(os.path.isfile(os.path.join(path, f)) for f in FILES):
    return False
  return all(len([f for f in os.listdir(os.path.join(path, sub)) if not f.startswith(".")])
             == num_views for sub in ("images", "images_sharp", "depth"))


def blur_stats(path, scene):
  """Blur radii kappa |1/z - 1/s| (px) over the training views, from the true depth and lens.json,
  split by what each pixel sees (re-traced pinhole ids): objects, and the backdrop if any."""
  lens = json.load(open(os.path.join(path, "lens.json")))
  tr = json.load(open(os.path.join(path, "transforms.json")))
  ns = len(scene["sphere_radius"]) + len(scene["box_lo"])
  obj, back, allr, frac = [], [], [], []
  for v, fr in zip(lens["views"], tr["frames"]):
    if v["held_out_sharp"]:
      continue
    c2w = synthetic.opengl_to_cv(fr["transform_matrix"])
    _, ids = synthetic.depth_and_ids(scene, c2w, tr["fl_x"], tr["w"], tr["h"])
    z = np.load(os.path.join(path, "depth", os.path.splitext(v["file"])[0] + ".npy"))
    r = v["coc_scale_px"] * np.abs(1 / z.astype(np.float64) - 1 / v["focus_distance"])
    allr.append(r.max())
    obj.append(r[(ids >= 1) & (ids <= ns)].max())
    if (ids > ns).any():
      back.append(r[ids > ns].min())
      frac.append(float((ids > ns).mean()))
  out = {"blur_px_max": float(max(allr)), "blur_px_max_objects": float(max(obj))}
  if back:
    out["blur_px_min_backdrop"] = float(min(back))
    out["backdrop_fraction"] = float(np.mean(frac))
  return out


def write_index(out, entries):
  """Merge entries {name: {...}} into OUT/scenes.json (written beside it, then renamed)."""
  path = os.path.join(out, "scenes.json")
  index = {"generator": "experiments/make_scenes.py", "scenes": {}}
  if os.path.isfile(path):
    index = json.load(open(path))
  index["scenes"].update(entries)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(index, f, indent=1)
  os.replace(tmp, path)
  return index


def make_one(out, name, entry, args):
  """Render one scene unless it is complete with the same settings; its index entry."""
  path = os.path.join(out, name)
  want = settings(entry, args)
  old = {}
  if os.path.isfile(os.path.join(out, "scenes.json")):
    old = json.load(open(os.path.join(out, "scenes.json")))["scenes"].get(name, {})
  complete = is_complete(path, entry["render"]["num_views"])
  if complete and not args.overwrite and old.get("settings", want) != want:
    sys.exit(f"{path} exists with other settings ({old.get('settings')}); pass --overwrite or "
             f"choose another --out or --suffix")
  kw = variants.render_kwargs(entry)
  skipped = complete and not args.overwrite
  if not skipped:
    synthetic.render_scene(path, width=args.width, height=args.height,
                           lens_samples=args.lens_samples, workers=args.workers, overwrite=True,
                           **kw)
  held = [v["file"] for v in json.load(open(os.path.join(path, "lens.json")))["views"]
          if v["held_out_sharp"]]
  stats = old.get("blur") if skipped and old.get("blur") else blur_stats(path, kw["scene"])
  return skipped, {"path": name, "about": entry["about"], "covers": entry["covers"],
                   "num_views": entry["render"]["num_views"], "held_out": held,
                   "noise_std": entry["render"].get("noise_std", 0.0), "settings": want,
                   "blur": stats}


def main(argv=None):
  args = parse_args(argv)
  out = os.path.abspath(os.path.expanduser(args.out))
  os.makedirs(out, exist_ok=True)
  todo = plan(args)
  done = {}
  for name, entry in tqdm(todo, desc="scenes", unit="scene"):
    skipped, done[name] = make_one(out, name, entry, args)
    write_index(out, {name: done[name]})
    tqdm.write(f"{name}: {'complete, skipped' if skipped else 'rendered'} ({done[name]['blur']})")
  print(json.dumps({"out": out, "scenes": sorted(done)}))
  return done


if __name__ == "__main__":
  main()
