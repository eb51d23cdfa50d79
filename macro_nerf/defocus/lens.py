"""Per-photo thin-lens parameters and the learned residual of the blur radius.

Lens parameters live in the normalised scene (depths scaled by scene.scale). Focus is stored as a
position u in the view's disparity range, 1/s = 1/far + u (1/near - 1/far), and the aperture as
log kappa, so that Adam's steps mean the same in every scene.
"""
import json
import os

import jax.numpy as jnp
import numpy as np

from macro_nerf.data.exif import coc_scale
from macro_nerf.errors import DataError


def initial_lens(near, far, init_radius_px):
  """Focus mid-way in disparity; kappa so the CoC at the range's ends is init_radius_px pixels."""
  near, far = np.asarray(near, np.float64), np.asarray(far, np.float64)
  half_range = 0.5 * (1.0 / near - 1.0 / far)
  return {"focus_u": jnp.asarray(np.full(near.shape, 0.5), jnp.float32),
          "log_kappa": jnp.asarray(np.log(init_radius_px / half_range), jnp.float32)}


def lens_from_file(path, names, near, far, scale):
  """Lens parameters from a lens.json (per view "file", "focus_distance" in world units and
  "coc_scale_px" = kappa in pixels x world units), for the views `names` (normalised near/far)."""
  if not os.path.isfile(path):
    raise DataError(f"{path}: lens file does not exist")
  try:
    with open(path) as f:
      views = {v["file"]: v for v in json.load(f)["views"]}
    rows = [views[n] for n in names]
    s = np.array([float(v["focus_distance"]) for v in rows]) * scale
    k = np.array([float(v["coc_scale_px"]) for v in rows]) * scale
  except KeyError as e:
    raise DataError(f"{path}: missing {e} (needs views[].file, focus_distance, coc_scale_px)") from None
  except (ValueError, TypeError) as e:
    raise DataError(f"{path}: not a lens file ({e})") from None
  if not (np.all(s > 0) and np.all(k > 0)):
    raise DataError(f"{path}: focus_distance and coc_scale_px must be > 0")
  u = focus_u_from_depth(s, np.asarray(near, np.float64), np.asarray(far, np.float64))
  return {"focus_u": jnp.asarray(u, jnp.float32), "log_kappa": jnp.asarray(np.log(k), jnp.float32)}


def lens_from_exif(med_depth, focal_mm, f_number, focus_m, focal_px, near, far, log_kappa):
  """Focus and aperture from the photos' EXIF (exif.py), mapped into the normalised scene.

  EXIF distances are metres; the scene's unit is unknown (COLMAP), so one factor per scene,
  lam = median over views of (median rendered depth / EXIF focus distance), maps them in: the
  EXIF gives each view's focus relative to the others, the rendered depth the absolute scale.
  kappa = lam * f_px f / (2 N) (exif.coc_scale) where f and N are known. Views without EXIF
  focus keep their median depth, views without aperture their `log_kappa`. Returns
  (focus_u, log_kappa, info), or None when no view has a focus distance.
  """
  med_depth, focus_m = np.asarray(med_depth, np.float64), np.asarray(focus_m, np.float64)
  has_s = np.isfinite(focus_m) & (focus_m > 0)
  if not has_s.any():
    return None
  lam = float(np.median(med_depth[has_s] / focus_m[has_s]))
  s = np.where(has_s, lam * np.where(has_s, focus_m, 1.0), med_depth)
  u = np.clip(focus_u_from_depth(s, np.asarray(near, np.float64), np.asarray(far, np.float64)),
              0.0, 1.0)
  f_m = np.asarray(focal_mm, np.float64) / 1000.0
  has_k = np.isfinite(f_m) & np.isfinite(f_number) & (f_m > 0) & (np.asarray(f_number) > 0)
  with np.errstate(invalid="ignore", divide="ignore"):
    k = lam * coc_scale(np.asarray(focal_px, np.float64), f_m, np.asarray(f_number, np.float64))
  log_k = np.where(has_k, np.log(np.where(has_k, k, 1.0)), np.asarray(log_kappa, np.float64))
  return u, log_k, {"views_focus": int(has_s.sum()), "views_aperture": int(has_k.sum()),
                    "metres_to_scene": lam}


def inv_focus(lens, near, far):
  return 1.0 / far + lens["focus_u"] * (1.0 / near - 1.0 / far)


def kappa(lens):
  return jnp.exp(lens["log_kappa"])


def focus_u_from_depth(depth, near, far):
  """The u that puts the focus at z-depth `depth` (all normalised)."""
  return (1.0 / depth - 1.0 / far) / (1.0 / near - 1.0 / far)


def lens_in_world(lens, near, far, scale):
  """Focus distance in world units and kappa in pixels x world units (r = kappa |1/z - 1/s|)."""
  s = 1.0 / np.asarray(inv_focus(lens, near, far), np.float64)
  return s / scale, np.asarray(kappa(lens), np.float64) / scale


def lens_for_views(config, scene, idx):
  """The starting lens of views idx: from the lens.json that defocus.lens_init names, else focus
  mid-way in disparity and kappa for defocus.init_radius_px."""
  d = config.defocus
  if d.lens_init:
    return lens_from_file(os.path.join(scene.path, d.lens_init), [scene.names[i] for i in idx],
                          scene.near[idx], scene.far[idx], scene.scale)
  return initial_lens(scene.near[idx], scene.far[idx], d.init_radius_px)


def train_view_lens(params, scene):
  """Learned focus (world units) and kappa (pixels x world units) of every training view."""
  idx = scene.train_idx
  return lens_in_world(params["lens"], scene.near[idx], scene.far[idx], scene.scale)


def lens_report(params, scene):
  """Per training view: focus distance (world units) and kappa (pixels x world units); {} for a
  run without a lens."""
  if "lens" not in params:
    return {}
  focus, kappa = train_view_lens(params, scene)
  return {scene.names[i]: {"focus_distance": float(f), "kappa": float(k)}
          for i, f, k in zip(scene.train_idx, focus, kappa)}


def view_lens(params, scene, i):
  """The learned (focus, kappa) of view i in world units; held-out views get the median kappa
  and no focus (None)."""
  if "lens" not in params:
    return None, None
  focus, kappa = train_view_lens(params, scene)
  where = np.flatnonzero(scene.train_idx == i)
  if where.size:
    return float(focus[where[0]]), float(kappa[where[0]])
  return None, float(np.median(kappa))
