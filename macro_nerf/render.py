"""Rendering a trained run: python -m macro_nerf.render --workdir=WD [--view=NAME] [--focus=F].

Renders a captured view all-in-focus (pinhole), with its depth map, and refocused through the
thin-lens blur at a chosen focus distance and aperture (world units, as in eval/metrics.json), or as
a focus-pull sequence sweeping the focus from near to far. Writes PNGs under WD/render/ (or
--output).

With --path=orbit|spiral|views it renders a camera path instead: frames, colour-mapped depth and,
when imageio and imageio-ffmpeg are installed (the `video` extra), an MP4.
"""
import importlib.util
import json
import os
import re
import sys

import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging
from PIL import Image

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


def train_view_lens(params, scene):
  """Learned focus (world units) and kappa (pixels x world units) of every training view."""
  idx = scene.train_idx
  return lens_lib.lens_in_world(params["lens"], scene.near[idx], scene.far[idx], scene.scale)


def view_lens(params, scene, i):
  """The learned (focus, kappa) of view i in world units; held-out views get the median kappa
  and no focus (None)."""
  if "lens" not in params:
    return None, None
  idx = scene.train_idx
  focus, kappa = train_view_lens(params, scene)
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
  soft, norm = config.defocus.get("softness", 1.0), config.defocus.get("normalize", True)
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


# ----------------------------------------------------------------------------- camera paths
# All in the scene's normalised coordinates, OpenGL c2w (columns right, up, back, centre).

PATHS = ("orbit", "spiral", "views")


def _unit(v):
  v = np.asarray(v, np.float64)
  return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def look_at(centre, target, up):
  """The c2w (3, 4) of a camera at `centre` looking at `target`, its up as close to `up` as can be."""
  back = _unit(np.asarray(centre, np.float64) - target)
  right = np.cross(up, back)
  if np.linalg.norm(right) < 1e-6:  # looking along `up`: any right will do
    right = np.cross([1.0, 0.0, 0.0] if abs(back[0]) < 0.9 else [0.0, 1.0, 0.0], back)
  right = _unit(right)
  return np.stack([right, np.cross(back, right), back, np.asarray(centre, np.float64)], 1)


def mean_up(c2w):
  return _unit(np.asarray(c2w, np.float64)[:, :, 1].sum(0))


def look_at_point(c2w, near, far):
  """The point the cameras look at: closest (least squares) to every optical axis, as in
  data.bounds_from_cameras. When the axes are close to parallel (forward-facing captures) or that
  point is not in front of the cameras within their bounds, the point on the mean axis at the
  harmonic mean of the median near and far bounds (the middle in disparity) instead."""
  c2w = np.asarray(c2w, np.float64)
  centres, axes = c2w[:, :, 3], -c2w[:, :, 2]
  axes = _unit(axes)
  m = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]
  msum = m.sum(0)
  mean_c, mean_axis = centres.mean(0), _unit(axes.sum(0))
  ok = np.linalg.eigvalsh(msum / len(c2w))[0] > 1e-3  # axes spread by more than ~2 degrees
  if ok:
    target = np.linalg.solve(msum, (m @ centres[:, :, None]).sum(0))[:, 0]
    depth = np.einsum("ni,ni->n", target - centres, axes)
    ok = np.all(depth > 0) and np.median(depth) <= np.max(far)
  if not ok:
    d = 2.0 / (1.0 / np.median(near) + 1.0 / np.median(far))
    target = mean_c + mean_axis * d
  return target


def orbit_path(c2w, near, far, frames):
  """A full circle around the look-at point, about the cameras' mean up vector, at the cameras'
  mean distance and mean elevation; it starts at the first camera's azimuth."""
  c2w = np.asarray(c2w, np.float64)
  target, up = look_at_point(c2w, near, far), mean_up(c2w)
  off = c2w[:, :, 3] - target
  dist = np.linalg.norm(off, axis=1)
  elev = np.mean(np.arcsin(np.clip(off @ up / np.maximum(dist, 1e-12), -1, 1)))
  a = off[0] - (off[0] @ up) * up
  if np.linalg.norm(a) < 1e-6 * dist[0]:  # the first camera sits on the axis
    a = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
  a = _unit(a)
  b = np.cross(up, a)
  phi = 2 * np.pi * np.arange(frames) / frames
  dirs = np.cos(elev) * (np.cos(phi)[:, None] * a + np.sin(phi)[:, None] * b) + np.sin(elev) * up
  return np.stack([look_at(target + dist.mean() * d, target, up) for d in dirs])


def spiral_path(c2w, near, far, frames, rots=2, zrate=0.5, percentile=90):
  """LLFF's spiral: around the mean pose, with radii the `percentile` of the cameras' offsets
  from it along its right, up and back axes, every frame looking at the point at the look-at
  point's depth on the mean axis."""
  c2w = np.asarray(c2w, np.float64)
  centre = c2w[:, :, 3].mean(0)
  up = mean_up(c2w)
  avg = look_at(centre, centre - _unit(c2w[:, :, 2].sum(0)), up)  # looks along the mean axis
  rads = np.percentile(np.abs((c2w[:, :, 3] - centre) @ avg[:, :3]), percentile, axis=0)
  focal = max(float((look_at_point(c2w, near, far) - centre) @ -avg[:, 2]), 1e-6)
  focus_point = centre - avg[:, 2] * focal
  out = []
  for theta in np.linspace(0.0, 2 * np.pi * rots, frames, endpoint=False):
    local = np.array([np.cos(theta), -np.sin(theta), -np.sin(theta * zrate)]) * rads
    out.append(look_at(centre + avg[:, :3] @ local, focus_point, up))
  return np.stack(out)


def path_cameras(scene, path, frames):
  """c2w (F, 3, 4), intrinsics (F, 4), near, far (F,) of a named path (normalised units).
  New views take the first training view's intrinsics and the widest bounds of the capture."""
  if path == "views":
    idx = np.arange(len(scene.names))
    if 0 < frames < len(idx):
      idx = idx[np.round(np.linspace(0, len(idx) - 1, frames)).astype(int)]
    return scene.c2w[idx], scene.intrinsics[idx], scene.near[idx], scene.far[idx]
  if path not in PATHS:
    raise ValueError(f"--path={path}: unknown path (use {', '.join(PATHS)})")
  frames = frames if frames > 0 else 60
  make = orbit_path if path == "orbit" else spiral_path
  c2w = make(scene.c2w, scene.near, scene.far, frames)
  n = len(c2w)
  intr = np.repeat(scene.intrinsics[scene.train_idx[:1]], n, 0)
  return (c2w, intr, np.full(n, scene.near.min()), np.full(n, scene.far.max()))


# ----------------------------------------------------------------------------- depth colours

_TURBO = (  # polynomial fit of Google's Turbo colour map (A. Mikhailov, R. Du), x in [0, 1]
    np.array([0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943]),
    np.array([0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604]),
    np.array([0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973]))


def turbo(x):
  """Turbo colour map of x in [0, 1] (clipped): (..., 3) in [0, 1]; dark blue -> green -> red."""
  x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
  powers = np.stack([x ** k for k in range(6)], -1)
  return np.clip(np.stack([powers @ c for c in _TURBO], -1), 0.0, 1.0)


def depth_colors(depth, lo, hi):
  """Turbo over inverse depth between lo and hi (world units): near red, far blue."""
  d = np.maximum(np.asarray(depth, np.float64), 1e-12)
  return turbo((1.0 / d - 1.0 / hi) / max(1.0 / lo - 1.0 / hi, 1e-12))


def can_write_video():
  return all(importlib.util.find_spec(m) is not None for m in ("imageio", "imageio_ffmpeg"))


def write_video(path, frames, fps):
  """uint8 frames (H, W, 3) -> H.264 MP4 (edges repeated to even sizes), written then renamed."""
  import imageio.v2 as imageio
  tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp.mp4")
  try:
    with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=8, macro_block_size=1,
                            pixelformat="yuv420p") as w:
      for f in frames:
        h, wd = f.shape[:2]
        w.append_data(np.pad(f, ((0, h % 2), (0, wd % 2), (0, 0)), mode="edge"))
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path


def render_path(workdir, path, frames=0, focus=None, kappa=None, aperture=1.0, margin=12,
                output=None, fps=30, progress=True):
  """Renders a camera path (PATHS) all-in-focus, or refocused at `focus` (world units) with the
  training views' median learned kappa (or `kappa`) times `aperture`. Writes
  OUT/<path>/frame_XXXX.png, depth_XXXX.png and, when it can, OUT/<path>.mp4."""
  from tqdm import tqdm
  if path not in PATHS:
    raise ValueError(f"--path={path}: unknown path (use {', '.join(PATHS)})")
  config, scene, model, state = pipeline.load_run(workdir)
  c2w, intr, near, far = path_cameras(scene, path, frames)
  out_root = output or os.path.join(workdir, "render")
  out_dir = os.path.join(out_root, path)
  main_process = parallel.is_main()
  if main_process:
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):  # frames of an earlier, longer render of this path
      if re.fullmatch(r"(frame|depth)_\d{4,}\.png", f):
        os.remove(os.path.join(out_dir, f))
  render_fn = pipeline.make_render_fn(model)
  data = parallel.replicate({"c2w": np.asarray(c2w, np.float32),
                             "intrinsics": np.asarray(intr, np.float32),
                             "near": np.asarray(near, np.float32),
                             "far": np.asarray(far, np.float32)}, render_fn.mesh)
  params = pipeline.model_params(state.params)
  if focus is not None:
    host = parallel.to_host(state.params)
    if kappa is None and "lens" in host:
      kappa = float(np.median(train_view_lens(host, scene)[1]))
  else:
    margin = 0
  soft, norm = config.defocus.get("softness", 1.0), config.defocus.get("normalize", True)
  h, w = scene.height, scene.width
  inner = (slice(margin, margin + h), slice(margin, margin + w))
  written = {"path": path, "frames": len(c2w), "files": [], "video": None}
  depths, rgbs = [], []
  for k in tqdm(range(len(c2w)), desc=f"{path} frames", disable=not progress, unit="frame"):
    out = pipeline.render_view(render_fn, params, data, k, h, w, config.eval.chunk, margin=margin)
    if not main_process:
      continue
    depth = out["depth"] / scene.scale  # world units
    rgb = out["rgb"]
    if focus is not None:
      if kappa is None:  # a naive run has no lens: a CoC of ~margin/2 pixels across the depths
        lo, hi = np.percentile(depth[inner], [5, 95])
        kappa = 0.5 * margin / max(0.5 * (1.0 / lo - 1.0 / hi), 1e-12)
      rgb = refocus(rgb, depth, focus, kappa * aperture, margin, soft, norm)
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
    image_utils.save_png(name, depth_colors(d, lo, hi))
    written["files"].append(name)
  if focus is not None:
    written.update(focus=focus, kappa=kappa * aperture)
  if can_write_video():
    written["video"] = write_video(os.path.join(out_root, f"{path}.mp4"), rgbs, fps)
  return written


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    parallel.initialize_from_flags()
    if f.path:
      res = render_path(f.workdir, f.path, f.frames, f.focus, f.kappa, f.aperture, f.margin,
                        f.output, f.fps)
    else:
      res = render(f.workdir, f.view, f.focus, f.kappa, f.aperture, f.focus_pull, f.margin,
                   f.output)
  except (DataError, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {e}")
  if parallel.is_main():
    if f.path and res["video"] is None:
      print(f"{res['frames']} frames written to {os.path.dirname(res['files'][0])}; no MP4 "
            "(needs imageio and imageio-ffmpeg: pip install -e \".[video]\")")
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
  flags.DEFINE_enum("path", None, list(PATHS), "Render a camera path instead of one view: orbit "
                    "(around the look-at point), spiral (LLFF-style, around the mean pose) or "
                    "views (the captured views). Writes OUT/<path>/frame_XXXX.png, "
                    "depth_XXXX.png and OUT/<path>.mp4 (with the video extra).")
  flags.DEFINE_integer("frames", 0, "Frames of the path (0: 60 for orbit and spiral, every "
                       "captured view for views).")
  flags.DEFINE_integer("fps", 30, "Frames per second of the MP4.")
  parallel.define_flags()
  flags.mark_flags_as_required(["workdir"])
  app.run(main)


if __name__ == "__main__":
  console_main()
