"""Relative focus weights: every photo's thin-lens radius of a surface point, against a float64
projection loop."""
import jax.numpy as jnp
import numpy as np

from macro_nerf.defocus.losses import radius_in_every_view
from macro_nerf.nerf import camera


def _cameras(rng, n):
  c2w = []
  for _ in range(n):
    pos = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), 4.0])
    back = pos / np.linalg.norm(pos)
    right = np.cross([0.0, 1.0, 0.0], back)
    right /= np.linalg.norm(right)
    c2w.append(np.stack([right, np.cross(back, right), back, pos], 1))
  return np.array(c2w)


def test_radius_in_every_view_matches_a_float64_loop():
  rng = np.random.default_rng(0)
  n, b, h, w = 5, 64, 30, 40
  c2w = _cameras(rng, n)
  intr = np.tile([[50.0, 50.0, w / 2, h / 2]], (n, 1))
  data = {"c2w": jnp.asarray(c2w, jnp.float32), "intrinsics": jnp.asarray(intr, jnp.float32),
          "near": jnp.full((n,), 2.0), "far": jnp.full((n,), 8.0)}
  lens = {"focus_u": jnp.asarray(rng.uniform(0, 1, n), jnp.float32),
          "log_kappa": jnp.asarray(np.log(rng.uniform(5, 20, n)), jnp.float32)}
  points = rng.uniform(-2.0, 2.0, (b, 3))
  r, inside = radius_in_every_view(jnp.asarray(points, jnp.float32), data, lens, (h, w))
  kappa = np.exp(np.asarray(lens["log_kappa"], np.float64))
  inv_s = 1 / 8.0 + np.asarray(lens["focus_u"], np.float64) * (1 / 2.0 - 1 / 8.0)
  for j in range(n):
    for i in range(b):
      uv, z = camera.project(points[i], c2w[j], intr[j])
      np.testing.assert_allclose(r[i, j], kappa[j] * abs(1 / z - inv_s[j]), rtol=1e-4)
      assert bool(inside[i, j]) == bool(0 <= uv[0] < w and 0 <= uv[1] < h and z > 0)
  assert 0 < np.mean(inside) < 1  # some points fall outside some frames
