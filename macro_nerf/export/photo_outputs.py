"""What a user gets for each photo, from an evaluated run (WD/eval): the all-in-focus image at the
photo's own size and named after it, its depth map, the learned lens, and CoC radius maps.

The renders are made once, by evaluation, at the training resolution; a photo that is larger
(data.factor > 1) gets its render resampled up (Lanczos) to its own size, and the report says so.
"""
import json
import os

import numpy as np
from PIL import Image

from macro_nerf import image_utils
from macro_nerf.data.images import find_image


def photo_size(path):
  """(width, height) of a photo as shown upright."""
  with Image.open(path) as im:
    return image_utils.upright_size(im)


def eval_render(run_dir, stem):
  """The all-in-focus render of a view in WD/eval (training views, else held-out views)."""
  for split in ("train_deblur", "test"):
    p = os.path.join(run_dir, "eval", split, stem + ".png")
    if os.path.isfile(p):
      return p, split == "test"
  raise FileNotFoundError(f"{run_dir}/eval: no render of {stem}; evaluate first")


def write_photo_outputs(run_dir, names, photo_dir, out_dir):
  """Per view: OUT/all_in_focus/<stem>.png at the photo's own size, OUT/depth/<stem>.png and .npy
  (world units, training resolution). Returns [{name, input, result, depth, held_out, size,
  render_size}]."""
  aif, dep = os.path.join(out_dir, "all_in_focus"), os.path.join(out_dir, "depth")
  os.makedirs(aif, exist_ok=True)
  os.makedirs(dep, exist_ok=True)
  rows = []
  for n in names:
    stem = os.path.splitext(n)[0]
    src, held_out = eval_render(run_dir, stem)
    photo = find_image(photo_dir, n)
    with Image.open(src) as im:
      im = im.convert("RGB")
      render_size = im.size
      size = photo_size(photo) if photo else im.size
      if size != im.size:
        im = im.resize(size, Image.LANCZOS)
      result = os.path.join(aif, stem + ".png")
      im.save(result)
    depth_src = os.path.join(run_dir, "eval", "depth", stem)
    depth = np.load(depth_src + ".npy")
    np.save(os.path.join(dep, stem + ".npy"), depth)
    image_utils.save_png(os.path.join(dep, stem + ".png"), image_utils.colorize_depth(depth))
    rows.append({"name": n, "input": photo or src, "result": result,
                 "depth": os.path.join(dep, stem + ".png"), "held_out": held_out,
                 "size": list(size), "render_size": list(render_size)})
  return rows


def lens_rows(metrics, scene_path, names):
  """The learned focus and blur scale of every training photo (metrics.json's lens), with the
  truth where the scene has a lens.json."""
  learned = metrics.get("lens", {})
  truth = {}
  p = os.path.join(scene_path, "lens.json")
  if os.path.isfile(p):
    try:
      with open(p) as f:
        views = json.load(f)["views"]
      truth = {os.path.splitext(v["file"])[0]: v for v in views}
    except (OSError, ValueError, KeyError, TypeError):
      truth = {}
  rows = []
  for n in names:
    if n not in learned:
      continue
    v, t = learned[n], truth.get(os.path.splitext(n)[0])
    rows.append({"name": n, "focus": v["focus_distance"], "kappa": v["kappa"],
                 "true_focus": t["focus_distance"] if t else None,
                 "true_kappa": t["coc_scale_px"] if t else None})
  return rows


def coc_radius(depth, focus, kappa):
  """Thin-lens circle-of-confusion radius in pixels, kappa |1/z - 1/focus| (z, focus in world
  units; kappa in pixels x world units)."""
  return kappa * np.abs(1.0 / np.maximum(depth, 1e-12) - 1.0 / focus)


def write_coc_maps(run_dir, lens, out_dir, count=4):
  """CoC radius maps (grey: black 0 px to white the map's 99th percentile) of `count` training
  photos spread over the capture; returns [{name, image, max_px}]."""
  if not lens:
    return []
  d = os.path.join(out_dir, "coc")
  os.makedirs(d, exist_ok=True)
  pick = sorted(set(np.linspace(0, len(lens) - 1, min(count, len(lens))).round().astype(int)))
  out = []
  for i in pick:
    v = lens[i]
    stem = os.path.splitext(v["name"])[0]
    depth = np.load(os.path.join(run_dir, "eval", "depth", stem + ".npy"))
    r = coc_radius(depth, v["focus"], v["kappa"])
    top = max(float(np.percentile(r, 99)), 1e-6)
    path = os.path.join(d, stem + ".png")
    grey = np.clip(r / top, 0, 1)[..., None].repeat(3, -1)
    image_utils.save_png(path, grey)
    out.append({"name": v["name"], "image": path, "max_px": top})
  return out


def training_curve(run_dir):
  """[{step, psnr, loss}] from the run's train_log.jsonl (its logged steps)."""
  p = os.path.join(run_dir, "train_log.jsonl")
  rows = []
  if not os.path.isfile(p):
    return rows
  with open(p) as f:
    for line in f:
      try:
        r = json.loads(line)
      except ValueError:
        continue  # a line cut short by a kill
      rows.append({"step": r.get("step"), "psnr": r.get("psnr"), "loss": r.get("loss")})
  # A resumed run logs its steps again from its checkpoint: keep the last record of each step.
  by_step = {r["step"]: r for r in rows if r["step"] is not None}
  return [by_step[s] for s in sorted(by_step)]
