"""A support-plane prior: what the photos do not need above the ground, leave on the ground.

Blur leaves a far background without texture, and the field then shows it as a backdrop standing
in front of where it belongs (pebbles: a wall behind the objects). Small objects are photographed
on a support (table, stage, leaf), and the rendered depth of the training views finds that plane
(RANSAC: the plane with the most rendered points). A light penalty on the ray weight above it
(a ramp from `margin` to `margin + ramp` in normalised scene units) costs objects nothing that
their colours do not pay back, while a backdrop, which the ground behind it would show in the same
colour, has nothing to hold it up.
"""
import jax.numpy as jnp
import numpy as np

from macro_nerf import parallel
from macro_nerf.nerf import camera, render
from macro_nerf.nerf.model import model_params, s_to_t


def fit_plane_ransac(points, up, threshold, iters=500, seed=0):
  """Plane n . x = d with the most points within `threshold`, refit to its inliers by least
  squares; n is a unit vector with n . up > 0. Returns (n, d, inlier fraction)."""
  points = np.asarray(points, np.float64)
  rng = np.random.default_rng(seed)
  best, best_count = None, -1
  for _ in range(iters):
    a, b, c = points[rng.choice(len(points), 3, replace=False)]
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n)
    if norm < 1e-12:
      continue
    n = n / norm
    count = int(np.sum(np.abs(points @ n - n @ a) < threshold))
    if count > best_count:
      best, best_count = (n, n @ a), count
  n, d = best
  inl = points[np.abs(points @ n - d) < threshold]
  centre = inl.mean(0)
  n = np.linalg.svd(inl - centre)[2][-1]  # direction of least spread
  d = n @ centre
  if n @ up < 0:
    n, d = -n, -d
  return n, d, float(np.mean(np.abs(points @ n - d) < threshold))


def rendered_points(render_fn, params, data, c2w, intrinsics, image_size, chunk, grid=(24, 32)):
  """Rendered surface points (normalised scene coordinates) of every view on a pixel grid,
  opaque pixels only (all pixels while fewer than 20 are)."""
  cam, px, py = render.grid_pixels(c2w.shape[0], image_size, grid)
  out = render.render_pixels(render_fn, params, data, cam, px, py, chunk)
  c2w, intr = np.asarray(c2w, np.float64)[cam], np.asarray(intrinsics, np.float64)[cam]
  d = camera.pixel_directions(px + 0.5, py + 0.5, c2w, tuple(intr[:, i] for i in range(4)))
  pts = c2w[:, :3, 3] + np.asarray(out["depth"], np.float64)[:, None] * d
  opaque = np.asarray(out["acc"]) > 0.5
  return pts[opaque] if opaque.sum() >= 20 else pts  # a field still mostly fog: every pixel


def estimate(render_fn, params, data, scene, idx, chunk, threshold=0.01):
  """The support plane (n, d) as float32 [n, d] of the views idx' rendered points; `up` points
  from the plane towards the cameras."""
  pts = rendered_points(render_fn, params, data, scene.c2w[idx], scene.intrinsics[idx],
                        (scene.height, scene.width), chunk)
  up = np.asarray(scene.c2w[idx][:, :3, 3], np.float64).mean(0) - pts.mean(0)
  n, d, frac = fit_plane_ransac(pts, up, threshold)
  return np.concatenate([n, [d]]).astype(np.float32), frac


def loss(out, rays, data, config):
  """prior.support_plane.weight x above_plane_penalty once the plane is in `data` (put there by
  `SupportPlane`); (0, {}) before and when the prior is off."""
  p = config.prior.support_plane
  if p.weight <= 0 or "support_plane" not in data:
    return 0.0, {}
  pen = above_plane_penalty(out["levels"], rays, data["support_plane"], config.model.disparity,
                            p.margin, p.ramp)
  return p.weight * pen, {"above_plane": pen}


def above_plane_penalty(levels, rays, plane, disparity, margin, ramp):
  """Mean over rays of the final level's weight above the plane, each sample counted by
  clip((height - margin) / ramp, 0, 1)."""
  s, w = levels[-1]
  t = s_to_t(s, rays.near, rays.far, disparity)
  tmid = 0.5 * (t[..., 1:] + t[..., :-1])
  x = rays.origins[..., None, :] + tmid[..., None] * rays.directions[..., None, :]
  height = jnp.sum(x * plane[:3], -1) - plane[3]
  return jnp.mean(jnp.sum(w * jnp.clip((height - margin) / ramp, 0.0, 1.0), -1))


class SupportPlane:
  """Training hook: fits the plane on the first step after prior.support_plane.start (and on
  resuming past it), then every refit_every steps (0: never), and drops it after `stop` (0:
  never): once the ground has replaced the backdrop the photos keep it there, and the objects
  regain the density the prior cost them. With fewer than min_fraction of the rendered points on
  the best plane (a pinned insect has no ground) the prior stays off for the rest of the run."""

  def __init__(self, config, scene, render_fn, mesh):
    self.p = config.prior.support_plane
    self.active = self.p.weight > 0
    self.config, self.scene, self.render_fn, self.mesh = config, scene, render_fn, mesh

  def fit_due(self, step, have_plane):
    p = self.p
    if step <= p.start or self.over(step):
      return False
    return not have_plane or (p.refit_every > 0 and (step - p.start - 1) % p.refit_every == 0)

  def over(self, step):
    return self.p.stop > 0 and step > self.p.stop

  def due(self, step, data):
    have = "support_plane" in data
    return self.active and (self.fit_due(step, have) or (have and self.over(step)))

  def __call__(self, step, state, data):
    if self.fit_due(step, "support_plane" in data):
      data = self.fit(step, state, data)
    if self.over(step):
      data = without_plane(data)  # the prior ends here
    return state, data

  def fit(self, step, state, data):
    """data with the plane of the current field's rendered depth (or without, when too few
    points lie on it; the prior is then off)."""
    plane, frac = estimate(self.render_fn, model_params(state.params), data, self.scene,
                           self.scene.train_idx, self.config.eval.chunk)
    self.active = frac >= self.p.min_fraction
    if parallel.is_main():
      print(f"support plane at step {step}: n = {np.round(plane[:3], 3).tolist()}, "
            f"d = {plane[3]:.4f} (normalised), {100 * frac:.0f} % of rendered points on it"
            + ("" if self.active else "; too few for a support, prior off"), flush=True)
    if not self.active:
      return without_plane(data)
    return dict(data, support_plane=parallel.replicate(plane, self.mesh))


def without_plane(data):
  return {k: v for k, v in data.items() if k != "support_plane"}
