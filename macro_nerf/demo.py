"""The built-in demo: python -m macro_nerf.demo [--workdir=macro_nerf_demo].

Renders a small synthetic macro scene with the project's own thin-lens ray tracer
(macro_nerf/scenes/synthetic.py): every photo has a shallow depth of field, focused at a different
depth (a focus bracket). Trains configs/demo.py on the blurred photos (defocus model on), renders
the training views sharp, and writes side_by_side.png (blurred input | deblurred | truth | learned
depth for a fixed choice of views, PSNRs against the true sharp images), every view deblurred in
deblurred/, and summary.json (every training view's figures, the learned lens against the true
one, wall times). Checks every training view, not only the shown ones, against its photo. Then
the stages that `macro_nerf.reconstruct` ends with: all_in_focus/, depth/, lens.json, mesh.ply and
report.html, the page to open.
"""
import json
import os
import shutil
import sys
import time

import numpy as np
from absl import app, flags, logging
from PIL import Image, ImageDraw, ImageFont

from macro_nerf import cli, config_files, image_utils, parallel
from macro_nerf.defocus import lens as lens_lib
from macro_nerf.export import stages
from macro_nerf.nerf import render
from macro_nerf.nerf.model import model_params
from macro_nerf.scenes import synthetic
from macro_nerf.training.loop import train

# The scene: a close-up (cameras at 0.75 of the default distance) from 9 viewpoints at 120x90,
# views 000 and 008 held out as sharp novel views. Every photo has the same shallow depth of field
# (a blur of 9-10 px across its depth range, ~4-9 px at its nearest or farthest point) and is
# focused at a different depth, from the 5th to the 95th percentile: a macro focus bracket.
# 32 lens samples per pixel.
SCENE = {"num_views": 9, "width": 120, "height": 90, "hold": 8, "lens_samples": 32, "seed": 0,
         "blur_px": [9.0, 10.0], "focus_bracket": [5.0, 95.0], "fixed_aperture": True,
         "camera_distance": 0.75}
# The picture's rows: every third training view along the camera arc (a fixed choice, which
# includes the view whose input is sharpest); every training view's figures are printed.
SHOWN = ("001.png", "004.png", "007.png")
ZOOM = 2  # panels shown at 2x (pixel repetition: every pixel as rendered), 240 px wide
MESH_RESOLUTION = 128  # the demo's mesh grid: its object spans ~100 px of the photos
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
  synthetic.render_scene(scene_dir, progress=progress, overwrite=True, workers=2, **kw)
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


def lens_table(lens_file, learned):
  """Each training view's learned focus distance and kappa beside the true ones (lens.json; world
  units, kappa in pixels x world units), and the focus's relative error."""
  with open(lens_file) as f:
    true = {v["file"]: v for v in json.load(f)["views"]}
  return {n: {"focus": v["focus_distance"], "true_focus": true[n]["focus_distance"],
              "focus_rel_err": abs(v["focus_distance"] / true[n]["focus_distance"] - 1.0),
              "kappa": v["kappa"], "true_kappa": true[n]["coc_scale_px"]}
          for n, v in learned.items()}


def _font(size):
  """Pillow's built-in scalable font (no download); the small bitmap one on old Pillows."""
  try:
    return ImageFont.load_default(size=size)
  except TypeError:
    return ImageFont.load_default()


def zoom(img):
  """img enlarged ZOOM times by pixel repetition (no interpolation: the pixels as rendered)."""
  return np.repeat(np.repeat(np.asarray(img, np.float32), ZOOM, 0), ZOOM, 1)


def caption(width, lines, font):
  """A black block (H, width, 3) in [0, 1] holding text lines, one per LABEL_PX + 4 rows."""
  strip = Image.new("RGB", (width, len(lines) * (LABEL_PX + 4) + 2), (0, 0, 0))
  draw = ImageDraw.Draw(strip)
  for k, line in enumerate(lines):
    draw.text((4, 2 + k * (LABEL_PX + 4)), line, fill=(255, 255, 255), font=font)
  return np.asarray(strip, np.float32) / 255.0


def labelled(img, text, font):
  """img (H, W, 3) in [0, 1] with a caption strip on top."""
  return np.concatenate([caption(img.shape[1], [text], font), img], 0)


def picture_row(name, figs, images, depth_err, font):
  """One view: input | deblurred | truth | learned depth, captioned, 4 px gaps."""
  inp, deb, gt = [zoom(x) for x in images[:3]]
  depth = zoom(image_utils.colorize_depth(images[3]))
  gap = np.ones((inp.shape[0] + LABEL_PX + 6, 4, 3), np.float32)
  stem = os.path.splitext(name)[0]
  panels = [labelled(inp, f"{stem} input  {figs['input_psnr']:.1f} dB", font),
            labelled(deb, f"deblurred  {figs['deblurred_psnr']:.1f} dB", font),
            labelled(gt, "truth (sharp)", font),
            labelled(depth, f"learned depth  err {100 * depth_err:.1f}%", font)]
  parts = []
  for p in panels:
    parts += [p, gap]
  return np.concatenate(parts[:-1], 1)


def write_picture(path, rows, lines, font):
  """The caption lines, then the rows, with 4 px gaps, written as PNG."""
  gap = np.ones((4, rows[0].shape[1], 3), np.float32)
  parts = [caption(rows[0].shape[1], lines, font), gap]
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


def summarise(scene, views, depth_err, lens, times, train_summary, paths):
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
      "worst_gain_db": float(min(gains)),
      "worst_view": min(train_views, key=lambda n: train_views[n]["gain_db"]),
      "views_worse_than_input_by_0.5db": [n for n, v in train_views.items() if v["gain_db"] < -0.5],
      "depth_rel_err_median": float(np.median([depth_err[n] for n in train_names])),
      "lens": lens, "focus_rel_err_median":
          float(np.median([v["focus_rel_err"] for v in lens.values()])) if lens else None,
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
  run_dir = os.path.join(workdir, "run")
  shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run every time (the scene is kept)
  for old in ("progress.json", "report.html", "mesh.ply"):
    if os.path.exists(os.path.join(workdir, old)):
      os.remove(os.path.join(workdir, old))
  scene, model, state, summary = train(config, run_dir, progress=progress)
  times.update(setup_s=time.time() - t - summary["wall_s"], compile_s=summary["compile_s"],
               train_s=summary["wall_s"] - summary["compile_s"])
  t = time.time()
  idx = list(scene.train_idx) + list(scene.test_idx)
  renders = render_views(scene, model, state, idx, config.eval.chunk)
  times["render_s"] = time.time() - t
  views, depth_err = score(scene, renders, scene_dir)
  lens = lens_table(os.path.join(scene_dir, "lens.json"), _learned_lens(scene, state))
  font = _font(LABEL_PX)
  by_name = {scene.names[i]: i for i in idx}
  rows = [picture_row(n, views[n], (scene.images[by_name[n]], renders[by_name[n]][0],
                                    scene.sharp_images[by_name[n]], renders[by_name[n]][1]),
                      depth_err[n], font) for n in SHOWN]
  paths = {"picture": os.path.join(workdir, "side_by_side.png"),
           "deblurred_dir": os.path.join(workdir, "deblurred"),
           "summary": os.path.join(workdir, "summary.json")}
  lines = [f"macro_nerf demo: blurred photos of a focus bracket | the sharp field trained from them "
           f"({summary['steps']} steps, "
           f"{'lens learned' if summary.get('lens_trained') else 'lens never trained'})",
           "| the true sharp image | the learned depth (near = bright). PSNR against the true sharp "
           "image.",
           "Rows: views " + ", ".join(os.path.splitext(n)[0] for n in SHOWN) +
           f" of {len(scene.train_idx)} (a fixed choice). Rendered at {scene.width}x{scene.height},"
           f" shown {ZOOM}x (pixels repeated)."]
  write_picture(paths["picture"], rows, lines, font)
  os.makedirs(paths["deblurred_dir"], exist_ok=True)
  for i, (rgb, depth) in renders.items():
    stem = os.path.splitext(scene.names[i])[0]
    image_utils.save_png(os.path.join(paths["deblurred_dir"], stem + ".png"), rgb)
    image_utils.save_png(os.path.join(paths["deblurred_dir"], stem + "_depth.png"),
                         image_utils.colorize_depth(depth))
  # What `macro_nerf.reconstruct` ends with: all-in-focus photos, depth, lens, mesh and report.
  t = time.time()
  progress = stages.Progress(workdir, {"demo": SCENE})
  progress.mark("poses", seconds=0.0, registered=None, total=None, unregistered=[])
  progress.mark("layout", seconds=0.0, config="demo", size=[scene.width, scene.height])
  progress.mark("train", seconds=summary["wall_s"], steps=summary["steps"])
  done = stages.finish(workdir, run_dir, scene_dir, os.path.join(scene_dir, "images"),
                            progress, {"train": summary["wall_s"]}, MESH_RESOLUTION,
                            argv=sys.argv, title="macro_nerf demo: a synthetic focus bracket")
  paths.update(report=done["report"], mesh=done["mesh"])
  times["report_stages_s"] = time.time() - t
  times["total_s"] = time.time() - t0
  times["cpu_s"] = sum(os.times()[:2])  # this process's CPU seconds, all threads
  result = summarise(scene, views, depth_err, lens, times, summary, paths)
  with open(paths["summary"], "w") as f:
    json.dump(result, f, indent=1)
  return result


def report(result):
  """The lines printed at the end: every training view's figures, the lens, times, where to look."""
  lines = ["", "view      input PSNR  deblurred PSNR  change   (dB against the true sharp image; "
           "input: the blurred photo)"]
  for n, v in result["train_views"].items():
    mark = "  *shown" if n in result["shown_views"] else ""
    lines.append(f"{n:8s}  {v['input_psnr']:10.2f}  {v['deblurred_psnr']:14.2f}  "
                 f"{v['gain_db']:+6.2f}{mark}")
  lines.append(f"{'mean':8s}  {result['mean_input_psnr']:10.2f}  "
               f"{result['mean_deblurred_psnr']:14.2f}  "
               f"{result['mean_deblurred_psnr'] - result['mean_input_psnr']:+6.2f}")
  worse = result["views_worse_than_input_by_0.5db"]
  lines.append(f"least change: {result['worst_gain_db']:+.2f} dB ({result['worst_view']}); views "
               f"worse than their photo by more than 0.5 dB: {', '.join(worse) or 'none'}")
  novel = ", ".join(f"{n} {p:.2f} dB" for n, p in result["novel_views"].items())
  if novel:
    lines.append(f"held-out viewpoints (sharp photos, never trained on), rendered: {novel}")
  if result["lens"]:
    worst = max(v["focus_rel_err"] for v in result["lens"].values())
    lines.append(f"learned focus distance: median error {100 * result['focus_rel_err_median']:.1f}%"
                 f" (worst {100 * worst:.1f}%); depth: median error "
                 f"{100 * result['depth_rel_err_median']:.1f}%")
  w = result["wall_s"]
  lines.append(f"wall time {w['total_s']:.0f} s: scene {w['scene_s']:.0f} s, setup "
               f"{w['setup_s']:.0f} s, compile {w['compile_s']:.0f} s, train {w['train_s']:.0f} s "
               f"({result['train_steps']} steps), render {w['render_s']:.0f} s, report with "
               f"mesh {w['report_stages_s']:.0f} s (CPU {w['cpu_s']:.0f} s)")
  lines.append(f"open:    {result['report']}  (every photo beside its all-in-focus render, the "
               "lens, the mesh)")
  lines.append(f"look at: {result['picture']}")
  lines.append(f"         (rows: {', '.join(result['shown_views'])}; input | deblurred | truth | "
               "learned depth)")
  lines.append(f"         {result['deblurred_dir']}/  (every view, deblurred, and its depth)")
  lines.append(f"         {result['summary']}  (these figures, and the learned lens per view)")
  return "\n".join(lines)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  cli.require_output(flags.FLAGS.workdir, "--workdir")
  print(report(run(flags.FLAGS.workdir, flags.FLAGS.steps)))


def console_main():
  flags.DEFINE_string("workdir", "macro_nerf_demo", "Where the scene and the run go.")
  flags.DEFINE_integer("steps", None, "Override the demo's training steps.")
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  sys.exit(console_main())
