"""The built-in demo: python -m macro_nerf.demo [--workdir=macro_nerf_demo].

Renders a small synthetic macro scene with the project's own thin-lens ray tracer
(macro_nerf/scenes/synthetic.py): every photo has a shallow depth of field, focused at a different
depth (a focus bracket). Trains configs/demo.py on the blurred photos (defocus model on), renders
the training views sharp, and writes side_by_side.png (blurred input | deblurred | truth | learned
depth for a fixed choice of views, PSNRs against the true sharp images) and summary.json (every
training view's figures, the learned focus against the true one, wall times).
"""
import json
import os
import sys
import time

import numpy as np
from absl import app, flags, logging
from PIL import Image, ImageDraw, ImageFont

from macro_nerf import config_files, image_utils, parallel
from macro_nerf.defocus import lens as lens_lib
from macro_nerf.nerf import render
from macro_nerf.nerf.model import model_params
from macro_nerf.scenes import synthetic
from macro_nerf.training.loop import train

# The scene: 9 viewpoints at 200x150 (views 000 and 008 held out, sharp, as novel views), each
# photo's largest blur radius 6.5-7.5 px (within the demo config's 8 px margin), focused between
# the 5th and 95th depth percentile; 16 lens samples per pixel (Monte-Carlo noise ~38 dB).
SCENE = {"num_views": 9, "width": 200, "height": 150, "hold": 8, "lens_samples": 16, "seed": 0,
         "blur_px": [6.5, 7.5], "focus_bracket": [5.0, 95.0]}
SHOWN = ("001.png", "003.png", "005.png")  # the picture's rows: a fixed choice, not the best
LABEL_PX = 14  # caption font size


def _scene_ready(scene_dir):
  """Whether scene_dir holds the demo scene of these SCENE settings (else it is rendered again)."""
  try:
    with open(os.path.join(scene_dir, "demo_scene.json")) as f:
      return json.load(f) == SCENE
  except (OSError, ValueError):
    return False


def make_scene(scene_dir, progress):
  """Renders the scene (unless already there); returns the seconds it took (0 when reused)."""
  if _scene_ready(scene_dir):
    return 0.0
  t = time.time()
  print(f"rendering the synthetic scene into {scene_dir} ...", flush=True)
  kw = dict(SCENE, blur_px=tuple(SCENE["blur_px"]), focus_bracket=tuple(SCENE["focus_bracket"]))
  synthetic.render_scene(scene_dir, progress=progress, overwrite=True, **kw)
  with open(os.path.join(scene_dir, "demo_scene.json"), "w") as f:
    json.dump(SCENE, f, indent=1)
  return time.time() - t


def demo_config(scene_dir, steps=None, overrides=None):
  """configs/demo.py on the demo scene; sharp images loaded only to score the deblurred views."""
  config = config_files.load("demo")
  config.data.path = scene_dir
  config.data.llffhold = SCENE["hold"]
  config.data.eval_sharp_dir = "images_sharp"
  if steps is not None:
    config.train.max_steps = steps
  for key, value in (overrides or {}).items():
    *path, last = key.split(".")
    node = config
    for p in path:
      node = node[p]
    node[last] = value
  return config


def render_views(scene, model, state, idx, chunk):
  """Sharp renders of views idx: {index: (sRGB image (H, W, 3), z-depth in world units (H, W))}."""
  render_fn = render.make_render_fn(model)
  data = render.device_data(scene, np.arange(len(scene.names)))
  params = model_params(state.params)
  out = {}
  for i in idx:
    r = render.render_view(render_fn, params, data, int(i), scene.height, scene.width, chunk)
    out[int(i)] = (np.asarray(image_utils.linear_to_srgb(r["rgb"], xnp=np)),
                   r["depth"] / scene.scale)
  return out


def view_figures(inputs, deblurred, truth):
  """Per view: PSNR of the blurred input and of the deblurred render against the true sharp
  image, and the change (deblurred - input), in dB."""
  a, b = image_utils.psnr(inputs, truth), image_utils.psnr(deblurred, truth)
  return {"input_psnr": a, "deblurred_psnr": b, "gain_db": b - a}


def depth_error(depth, true_depth):
  """Median relative error of a depth map against the truth (finite true depths only)."""
  ok = np.isfinite(true_depth)
  return float(np.median(np.abs(depth[ok] - true_depth[ok]) / true_depth[ok]))


def focus_errors(lens_file, learned):
  """Relative error of each learned focus distance against the scene's true one (lens.json)."""
  with open(lens_file) as f:
    true = {v["file"]: v["focus_distance"] for v in json.load(f)["views"]}
  return {n: abs(v["focus_distance"] - true[n]) / true[n] for n, v in learned.items()}


def _font(size):
  """Pillow's built-in scalable font (no download); the small bitmap one on old Pillows."""
  try:
    return ImageFont.load_default(size=size)
  except TypeError:
    return ImageFont.load_default()


def labelled(img, text, font):
  """img (H, W, 3) in [0, 1] with a caption strip on top."""
  strip = Image.new("RGB", (img.shape[1], LABEL_PX + 6), (0, 0, 0))
  ImageDraw.Draw(strip).text((4, 2), text, fill=(255, 255, 255), font=font)
  return np.concatenate([np.asarray(strip, np.float32) / 255.0, img], 0)


def picture_row(name, figs, images, depth_err, font):
  """One view: input | deblurred | truth | learned depth, captioned, 4 px gaps."""
  inp, deb, gt, depth = images
  gap = np.ones((inp.shape[0] + LABEL_PX + 6, 4, 3), np.float32)
  stem = os.path.splitext(name)[0]
  panels = [labelled(inp, f"{stem} input  {figs['input_psnr']:.1f} dB", font),
            labelled(deb, f"deblurred  {figs['deblurred_psnr']:.1f} dB", font),
            labelled(gt, "truth (sharp)", font),
            labelled(image_utils.colorize_depth(depth), f"depth  err {100 * depth_err:.1f}%",
                     font)]
  parts = []
  for p in panels:
    parts += [p, gap]
  return np.concatenate(parts[:-1], 1)


def write_picture(path, rows):
  """Rows stacked with 4 px gaps, written as PNG."""
  gap = np.ones((4, rows[0].shape[1], 3), np.float32)
  parts = []
  for r in rows:
    parts += [r, gap]
  image_utils.save_png(path, np.concatenate(parts[:-1], 0))


def score(scene, renders, scene_dir):
  """Every rendered view's figures (held-out views are sharp photos: novel-view scores)."""
  views, depth_err = {}, {}
  for i, (rgb, depth) in renders.items():
    name = scene.names[i]
    views[name] = view_figures(scene.images[i], rgb, scene.sharp_images[i])
    true_depth = np.load(os.path.join(scene_dir, "depth", os.path.splitext(name)[0] + ".npy"))
    depth_err[name] = depth_error(depth, true_depth)
  return views, depth_err


def summarise(scene, views, depth_err, focus_err, times, train_summary, paths):
  """The demo's figures as one JSON-able dict."""
  train_names = [scene.names[i] for i in scene.train_idx]
  train_views = {n: views[n] for n in train_names}
  gains = [v["gain_db"] for v in train_views.values()]
  return {
      "train_views": train_views,
      "novel_views": {scene.names[i]: views[scene.names[i]]["deblurred_psnr"]
                      for i in scene.test_idx if scene.names[i] in views},
      "mean_input_psnr": float(np.mean([v["input_psnr"] for v in train_views.values()])),
      "mean_deblurred_psnr": float(np.mean([v["deblurred_psnr"] for v in train_views.values()])),
      "worst_gain_db": float(min(gains)), "views_worse_than_input_by_0.5db":
          [n for n, v in train_views.items() if v["gain_db"] < -0.5],
      "depth_rel_err_median": float(np.median([depth_err[n] for n in train_names])),
      "focus_rel_err": focus_err,
      "focus_rel_err_median": float(np.median(list(focus_err.values()))),
      "shown_views": list(SHOWN), "train_steps": train_summary["steps"],
      "wall_s": times, **paths}


def _learned_lens(scene, state):
  """The learned focus and kappa of every training view, world units."""
  return lens_lib.lens_report(parallel.to_host(state.params), scene)


def run(workdir, steps=None, progress=True, overrides=None):
  """Scene, training, renders, picture and summary; returns the summary dict."""
  t0 = time.time()
  workdir = os.path.abspath(os.path.expanduser(workdir))
  scene_dir = os.path.join(workdir, "scene")
  times = {"scene_s": make_scene(scene_dir, progress)}
  config = demo_config(scene_dir, steps, overrides)
  t = time.time()
  scene, model, state, summary = train(config, os.path.join(workdir, "run"), progress=progress,
                                       overwrite=True)
  times.update(setup_s=time.time() - t - summary["wall_s"], compile_s=summary["compile_s"],
               train_s=summary["wall_s"] - summary["compile_s"])
  t = time.time()
  idx = list(scene.train_idx) + list(scene.test_idx)
  renders = render_views(scene, model, state, idx, config.eval.chunk)
  times["render_s"] = time.time() - t
  views, depth_err = score(scene, renders, scene_dir)
  focus_err = focus_errors(os.path.join(scene_dir, "lens.json"), _learned_lens(scene, state))
  font = _font(LABEL_PX)
  by_name = {scene.names[i]: i for i in idx}
  rows = [picture_row(n, views[n], (scene.images[by_name[n]], renders[by_name[n]][0],
                                    scene.sharp_images[by_name[n]], renders[by_name[n]][1]),
                      depth_err[n], font) for n in SHOWN]
  paths = {"picture": os.path.join(workdir, "side_by_side.png"),
           "deblurred_dir": os.path.join(workdir, "deblurred"),
           "summary": os.path.join(workdir, "summary.json")}
  write_picture(paths["picture"], rows)
  os.makedirs(paths["deblurred_dir"], exist_ok=True)
  for i, (rgb, depth) in renders.items():
    stem = os.path.splitext(scene.names[i])[0]
    image_utils.save_png(os.path.join(paths["deblurred_dir"], stem + ".png"), rgb)
    image_utils.save_png(os.path.join(paths["deblurred_dir"], stem + "_depth.png"),
                         image_utils.colorize_depth(depth))
  times["total_s"] = time.time() - t0
  times["cpu_s"] = sum(os.times()[:2])  # this process's CPU seconds, all threads
  result = summarise(scene, views, depth_err, focus_err, times, summary, paths)
  with open(paths["summary"], "w") as f:
    json.dump(result, f, indent=1)
  return result


def report(result):
  """The lines printed at the end: every training view's figures, the lens, times, where to look."""
  lines = ["", "view      input PSNR  deblurred PSNR  change   (dB, against the true sharp image)"]
  for n, v in result["train_views"].items():
    mark = "  *shown" if n in result["shown_views"] else ""
    lines.append(f"{n:8s}  {v['input_psnr']:10.2f}  {v['deblurred_psnr']:14.2f}  "
                 f"{v['gain_db']:+6.2f}{mark}")
  lines.append(f"{'mean':8s}  {result['mean_input_psnr']:10.2f}  "
               f"{result['mean_deblurred_psnr']:14.2f}  "
               f"{result['mean_deblurred_psnr'] - result['mean_input_psnr']:+6.2f}")
  novel = ", ".join(f"{n} {p:.2f} dB" for n, p in result["novel_views"].items())
  if novel:
    lines.append(f"novel views (held out, never trained on): {novel}")
  lines.append(f"learned focus distance: median error {100 * result['focus_rel_err_median']:.1f}%"
               f" (worst {100 * max(result['focus_rel_err'].values()):.1f}%); depth: median error "
               f"{100 * result['depth_rel_err_median']:.1f}%")
  w = result["wall_s"]
  lines.append(f"wall time {w['total_s']:.0f} s: scene {w['scene_s']:.0f} s, setup "
               f"{w['setup_s']:.0f} s, compile {w['compile_s']:.0f} s, train {w['train_s']:.0f} s "
               f"({result['train_steps']} steps), render {w['render_s']:.0f} s")
  lines.append(f"look at: {result['picture']}  (rows: {', '.join(result['shown_views'])}; "
               "input | deblurred | truth | learned depth)")
  lines.append(f"         {result['deblurred_dir']}/  (every view, deblurred, and its depth)")
  lines.append(f"         {result['summary']}  (these figures)")
  return "\n".join(lines)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  print(report(run(flags.FLAGS.workdir, flags.FLAGS.steps)))


def console_main():
  flags.DEFINE_string("workdir", "macro_nerf_demo", "Where the scene and the run go.")
  flags.DEFINE_integer("steps", None, "Override the demo's training steps.")
  app.run(main)


if __name__ == "__main__":
  sys.exit(console_main())
