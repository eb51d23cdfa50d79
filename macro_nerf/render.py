"""Rendering a trained run: python -m macro_nerf.render --workdir=WD [--view=NAME] [--focus=F].

Renders a captured view all-in-focus (pinhole), with its depth map, and refocused through the
thin-lens blur at a chosen focus distance and aperture (world units, as in eval/metrics.json), or as
a focus-pull sequence sweeping the focus from near to far. Writes PNGs under WD/render/ (or
--output).
"""
import json
import os
import sys

import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from macro_nerf import defocus, image_utils, parallel, pipeline
from macro_nerf import lens as lens_lib
from macro_nerf.data import DataError


def view_index(scene, view):
  if view is None or view == "":
    return int(scene.train_idx[0])
  if view in scene.names:
    return scene.names.index(view)
  stems = [os.path.splitext(n)[0] for n in scene.names]
  if view in stems:
    return stems.index(view)
  if view.isdigit() and int(view) < len(scene.names):
    return int(view)
  raise ValueError(f"--view={view}: no such view (have {scene.names[0]} .. {scene.names[-1]})")


def view_lens(params, scene, i):
  """The learned (focus, kappa) of view i in world units; held-out views get the median kappa
  and no focus (None)."""
  if "lens" not in params:
    return None, None
  idx = scene.train_idx
  focus, kappa = lens_lib.lens_in_world(params["lens"], scene.near[idx], scene.far[idx],
                                        scene.scale)
  where = np.flatnonzero(idx == i)
  if where.size:
    return float(focus[where[0]]), float(kappa[where[0]])
  return None, float(np.median(kappa))


def refocus(sharp_rgb, depth_world, focus, kappa, margin, softness=1.0, normalize=True):
  """Thin-lens blur of a sharp render (with a margin of `margin` pixels) focused at `focus`."""
  r = defocus.coc_radius(1.0 / depth_world, kappa, 1.0 / focus)
  r = np.clip(r, 0.0, defocus.max_radius(margin, softness))
  out = defocus.blur_image(jnp.asarray(sharp_rgb, jnp.float32), jnp.asarray(r, jnp.float32),
                           margin, softness, normalize)
  return np.asarray(out)


def render(workdir, view=None, focus=None, kappa=None, aperture=1.0, focus_pull=0, margin=12,
           output=None, progress=True):
  from tqdm import tqdm
  config, scene, model, state = pipeline.load_run(workdir)
  i = view_index(scene, view)
  out_dir = output or os.path.join(workdir, "render")
  main_process = parallel.is_main()  # every process renders its share; process 0 writes
  if main_process:
    os.makedirs(out_dir, exist_ok=True)
  stem = os.path.splitext(scene.names[i])[0]
  data = pipeline.device_data(scene, np.arange(len(scene.names)))
  render_fn = pipeline.make_render_fn(model)
  out = pipeline.render_view(render_fn, pipeline.model_params(state.params), data, i,
                             scene.height, scene.width, config.eval.chunk, margin=margin)
  if not main_process:
    return {"view": scene.names[i], "files": []}
  state = parallel.to_host(state)
  depth = out["depth"] / scene.scale  # world units
  inner = (slice(margin, margin + scene.height), slice(margin, margin + scene.width))
  image_utils.save_png(os.path.join(out_dir, f"{stem}_sharp.png"),
                       image_utils.linear_to_srgb(out["rgb"][inner], xnp=np))
  image_utils.save_png(os.path.join(out_dir, f"{stem}_depth.png"),
                       image_utils.colorize_depth(depth[inner]))
  learned_focus, learned_kappa = view_lens(state.params, scene, i)
  kappa = kappa if kappa is not None else learned_kappa
  if kappa is None:
    # A naive run has no lens: a CoC of ~margin/2 pixels across the depth range.
    lo, hi = np.percentile(depth[inner], [5, 95])
    kappa = 0.5 * margin / (0.5 * (1.0 / lo - 1.0 / hi))
  kappa = kappa * aperture
  soft, norm = config.defocus.softness, config.defocus.normalize
  written = {"view": scene.names[i], "kappa": kappa, "files": []}
  focus = focus if focus is not None else learned_focus
  if focus is not None:
    img = refocus(out["rgb"], depth, focus, kappa, margin, soft, norm)
    path = os.path.join(out_dir, f"{stem}_focus{focus:.4g}.png")
    image_utils.save_png(path, image_utils.linear_to_srgb(img, xnp=np))
    written["focus"] = focus
    written["files"].append(path)
  if focus_pull > 0:
    lo, hi = np.percentile(depth[inner], [2, 98])
    pull_dir = os.path.join(out_dir, f"{stem}_focus_pull")
    os.makedirs(pull_dir, exist_ok=True)
    # Even steps in disparity: the blur changes evenly from frame to frame.
    for k, inv_s in enumerate(tqdm(np.linspace(1.0 / lo, 1.0 / hi, focus_pull), desc="focus pull",
                                   disable=not progress)):
      img = refocus(out["rgb"], depth, 1.0 / inv_s, kappa, margin, soft, norm)
      path = os.path.join(pull_dir, f"{k:04d}.png")
      image_utils.save_png(path, image_utils.linear_to_srgb(img, xnp=np))
      written["files"].append(path)
    written["focus_pull"] = [float(1.0 / lo), float(1.0 / hi)]
  return written


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    parallel.initialize_from_flags()
    res = render(f.workdir, f.view, f.focus, f.kappa, f.aperture, f.focus_pull, f.margin, f.output)
  except (DataError, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {e}")
  if parallel.is_main():
    print(json.dumps({k: v for k, v in res.items() if k != "files"} | {"written": len(res["files"])}))


def console_main():
  flags.DEFINE_string("workdir", None, "Training workdir.")
  flags.DEFINE_string("view", None, "View name, stem or index (default: the first training view).")
  flags.DEFINE_float("focus", None, "Focus distance, world units (default: the view's learned one).")
  flags.DEFINE_float("kappa", None, "CoC scale, pixels x world units (default: the view's learned).")
  flags.DEFINE_float("aperture", 1.0, "Multiplies kappa: 2 = twice the aperture diameter.")
  flags.DEFINE_integer("focus_pull", 0, "Frames of a focus pull from near to far (0: none).")
  flags.DEFINE_integer("margin", 12, "Pixels rendered beyond the frame; larger radii are clipped.")
  flags.DEFINE_string("output", None, "Output folder (default WD/render).")
  parallel.define_flags()
  flags.mark_flags_as_required(["workdir"])
  app.run(main)


if __name__ == "__main__":
  console_main()
