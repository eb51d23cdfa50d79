"""Where each photo's lens starts when the blur switches on: at the photo's median rendered depth,
or at the focus distance and aperture its EXIF gives (scaled into the scene by the rendered depth).

A training hook: after the defocus warm-up the field already has rough geometry, so its median
depth in each view is a good first guess of where that photo was focused.
"""
import os

import numpy as np

from macro_nerf import parallel
from macro_nerf.data import exif as exif_lib
from macro_nerf.defocus import lens as lens_lib
from macro_nerf.nerf import render


def warmup_steps(config):
  """The ray steps before the lens switches on: defocus.warmup_steps, but at most
  defocus.warmup_fraction of train.max_steps, so that a short run still trains its lens (0 without
  defocus)."""
  d = config.defocus
  if not d.enabled or d.warmup_steps <= 0:
    return 0
  fraction = float(d.get("warmup_fraction", 0.5))
  return min(int(d.warmup_steps), max(int(config.train.max_steps * fraction), 1))


def lens_trained(config, step):
  """Whether a defocus run at `step` has had its lens switched on (False without defocus)."""
  return bool(config.defocus.enabled) and int(step) > warmup_steps(config)


def median_depths(render_fn, params, data, image_size, chunk, grid=(18, 24)):
  """Median rendered z-depth of every view in `data` (normalised), over the opaque pixels of a
  gy x gx grid (every pixel while fewer than 11 are opaque). Returns (N,) numpy."""
  n = data["near"].shape[0]
  cam, px, py = render.grid_pixels(n, image_size, grid)
  out = render.render_pixels(render_fn, params, data, cam, px, py, chunk)
  depth, acc = out["depth"].reshape(n, -1), out["acc"].reshape(n, -1)
  return np.array([np.median(dv[av > 0.5]) if np.sum(av > 0.5) > 10 else np.median(dv)
                   for dv, av in zip(depth, acc)])


def focus_from_depth(render_fn, params, data, config, scene, say=print):
  """The lens of the training views at their median rendered depth, or from the scene's
  exif.json (tools.colmap writes one) when defocus.exif_prior. Returns numpy (focus_u, log_kappa).
  """
  med = median_depths(render_fn, params["model"], data, (scene.height, scene.width),
                      config.eval.chunk)
  idx = scene.train_idx
  near, far = scene.near[idx].astype(np.float64), scene.far[idx].astype(np.float64)
  u = np.clip(lens_lib.focus_u_from_depth(med, near, far), 0.0, 1.0)
  log_k = np.asarray(parallel.to_host(params["lens"]["log_kappa"]), np.float64)
  exif_path = os.path.join(scene.path, exif_lib.FILE)
  prior = exif_lib.load_exif_json(exif_path, [scene.names[i] for i in idx]) if (
      config.defocus.exif_prior) else None
  if prior is not None:
    got = lens_lib.lens_from_exif(med, *prior, scene.intrinsics[idx, 0], near, far, log_k)
    if got is not None:
      u, log_k, info = got
      say(f"lens from {exif_path}: focus for {info['views_focus']}/{len(idx)} views, "
          f"aperture for {info['views_aperture']}/{len(idx)}; 1 m = "
          f"{info['metres_to_scene'] / scene.scale:.4g} scene units")
  return u, log_k


class FocusInit:
  """Training hook: sets every training view's lens from the rendered depth on the first step
  after the defocus warm-up (not when the lens comes from a lens.json, nor without a warm-up)."""

  def __init__(self, config, scene, render_fn, mesh):
    warmup = warmup_steps(config)
    self.step = warmup + 1 if warmup > 0 and not config.defocus.lens_init else 0
    self.config, self.scene, self.render_fn, self.mesh = config, scene, render_fn, mesh

  def due(self, step, data):
    del data
    return step == self.step

  def __call__(self, step, state, data):
    say = lambda msg: print(msg, flush=True) if parallel.is_main() else None
    u, log_k = focus_from_depth(self.render_fn, state.params, data, self.config, self.scene, say)
    lens = dict(state.params["lens"],
                focus_u=parallel.replicate(np.asarray(u, np.float32), self.mesh),
                log_kappa=parallel.replicate(np.asarray(log_k, np.float32), self.mesh))
    return state.replace(params=dict(state.params, lens=lens)), data
