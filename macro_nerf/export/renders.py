"""Renders of a trained run: a captured view all-in-focus with its depth, refocused through the
thin-lens blur at a chosen focus distance and aperture (world units, as in eval/metrics.json), a
focus pull, or a camera path (frames, depth and, with the video extra, an MP4).

Each returns a summary whose "files" are every file it wrote; distances (focus, focus_pull_range)
are in world units and kappa in pixels x world units, as in eval/metrics.json."""
import os
import re

import numpy as np
from PIL import Image
from tqdm import tqdm

from macro_nerf import image_utils, parallel
from macro_nerf.defocus import blur, lens as lens_lib
from macro_nerf.export import camera_paths, video
from macro_nerf.nerf import render as render_lib
from macro_nerf.nerf.model import model_params
from macro_nerf.training.checkpoints import load_run


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


def render(workdir, view=None, focus=None, kappa=None, aperture=1.0, focus_pull=0, margin=12,
           output=None, progress=True):
  config, scene, model, state = load_run(workdir)
  i = view_index(scene, view)
  out_dir = output or os.path.join(workdir, "render")
  main_process = parallel.is_main()  # every process renders its share; process 0 writes
  if main_process:
    os.makedirs(out_dir, exist_ok=True)
  stem = os.path.splitext(scene.names[i])[0]
  data = render_lib.device_data(scene, np.arange(len(scene.names)))
  render_fn = render_lib.make_render_fn(model)
  out = render_lib.render_view(render_fn, model_params(state.params), data, i, scene.height,
                               scene.width, config.eval.chunk, margin=margin)
  if not main_process:
    return {"view": scene.names[i], "files": []}
  state = parallel.to_host(state)
  depth = out["depth"] / scene.scale  # world units
  inner = (slice(margin, margin + scene.height), slice(margin, margin + scene.width))
  sharp_path = os.path.join(out_dir, f"{stem}_sharp.png")
  depth_path = os.path.join(out_dir, f"{stem}_depth.png")
  image_utils.save_png(sharp_path, image_utils.linear_to_srgb(out["rgb"][inner], xnp=np))
  image_utils.save_png(depth_path, image_utils.colorize_depth(depth[inner]))
  learned_focus, learned_kappa = lens_lib.view_lens(state.params, scene, i)
  kappa = kappa if kappa is not None else learned_kappa
  if kappa is None:
    # A naive run has no lens: a CoC of ~margin/2 pixels across the depth range.
    lo, hi = np.percentile(depth[inner], [5, 95])
    kappa = 0.5 * margin / (0.5 * (1.0 / lo - 1.0 / hi))
  kappa = kappa * aperture
  soft, norm = config.defocus.get("softness", 1.0), config.defocus.get("normalize", True)
  written = {"view": scene.names[i], "kappa": kappa, "files": [sharp_path, depth_path]}
  focus = focus if focus is not None else learned_focus
  if focus is not None:
    img = blur.refocus(out["rgb"], depth, focus, kappa, margin, soft, norm)
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
      img = blur.refocus(out["rgb"], depth, 1.0 / inv_s, kappa, margin, soft, norm)
      path = os.path.join(pull_dir, f"{k:04d}.png")
      image_utils.save_png(path, image_utils.linear_to_srgb(img, xnp=np))
      written["files"].append(path)
    written["focus_pull_range"] = [float(lo), float(hi)]  # world units, as `focus`
  return written


def render_path(workdir, path, frames=0, focus=None, kappa=None, aperture=1.0, margin=12,
                output=None, fps=30, progress=True):
  """Renders a camera path (PATHS) all-in-focus, or refocused at `focus` (world units) with the
  training views' median learned kappa (or `kappa`) times `aperture`. Writes
  OUT/<path>/frame_XXXX.png, depth_XXXX.png and, when it can, OUT/<path>.mp4."""
  if path not in camera_paths.PATHS:
    raise ValueError(f"--path={path}: unknown path (use {', '.join(camera_paths.PATHS)})")
  config, scene, model, state = load_run(workdir)
  c2w, intr, near, far = camera_paths.path_cameras(scene, path, frames)
  out_root = output or os.path.join(workdir, "render")
  out_dir = os.path.join(out_root, path)
  main_process = parallel.is_main()
  if main_process:
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):  # frames of an earlier, longer render of this path
      if re.fullmatch(r"(frame|depth)_\d{4,}\.png", f):
        os.remove(os.path.join(out_dir, f))
  render_fn = render_lib.make_render_fn(model)
  data = parallel.replicate({"c2w": np.asarray(c2w, np.float32),
                             "intrinsics": np.asarray(intr, np.float32),
                             "near": np.asarray(near, np.float32),
                             "far": np.asarray(far, np.float32)}, render_fn.mesh)
  params = model_params(state.params)
  if focus is not None:
    host = parallel.to_host(state.params)
    if kappa is None and "lens" in host:
      kappa = float(np.median(lens_lib.train_view_lens(host, scene)[1]))
  else:
    margin = 0
  soft, norm = config.defocus.get("softness", 1.0), config.defocus.get("normalize", True)
  h, w = scene.height, scene.width
  inner = (slice(margin, margin + h), slice(margin, margin + w))
  written = {"path": path, "frames": len(c2w), "files": [], "video": None}
  depths, rgbs = [], []
  for k in tqdm(range(len(c2w)), desc=f"{path} frames", disable=not progress, unit="frame"):
    out = render_lib.render_view(render_fn, params, data, k, h, w, config.eval.chunk, margin=margin)
    if not main_process:
      continue
    depth = out["depth"] / scene.scale  # world units
    rgb = out["rgb"]
    if focus is not None:
      if kappa is None:  # a naive run has no lens: a CoC of ~margin/2 pixels across the depths
        lo, hi = np.percentile(depth[inner], [5, 95])
        kappa = 0.5 * margin / max(0.5 * (1.0 / lo - 1.0 / hi), 1e-12)
      rgb = blur.refocus(rgb, depth, focus, kappa * aperture, margin, soft, norm)
    else:
      rgb = rgb[inner]
    frame = image_utils.to_uint8(image_utils.linear_to_srgb(rgb, xnp=np))
    name = os.path.join(out_dir, f"frame_{k:04d}.png")
    Image.fromarray(frame).save(name)
    written["files"].append(name)
    rgbs.append(frame)
    depths.append((depth[inner], out["acc"][inner]))
  if not main_process:
    return written
  # One depth range for the whole path, so the colours do not flicker from frame to frame.
  solid = np.concatenate([d[a > 0.5] for d, a in depths])
  every = np.concatenate([d.reshape(-1) for d, _ in depths])
  lo, hi = np.percentile(solid if solid.size else every, [1, 99])
  hi = max(hi, lo * (1 + 1e-6))
  for k, (d, _) in enumerate(depths):
    name = os.path.join(out_dir, f"depth_{k:04d}.png")
    image_utils.save_png(name, image_utils.depth_colors(d, lo, hi))
    written["files"].append(name)
  if focus is not None:
    written.update(focus=focus, kappa=kappa * aperture)
  if video.can_write_video():
    written["video"] = video.write_video(os.path.join(out_root, f"{path}.mp4"), rgbs, fps)
    written["files"].append(written["video"])
  return written
