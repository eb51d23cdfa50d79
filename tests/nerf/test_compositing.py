"""Compositing and proposal step functions vs direct float64 references."""
import jax
import jax.numpy as jnp
import numpy as np

from macro_nerf.nerf import compositing, stepfun


def _ref_weights(density, tdist, dir_norm):
  r, s = density.shape
  w = np.zeros((r, s))
  for i in range(r):
    trans = 1.0
    for k in range(s):
      delta = (tdist[i, k + 1] - tdist[i, k]) * dir_norm[i, 0]
      alpha = 1.0 - np.exp(-density[i, k] * delta)
      w[i, k] = trans * alpha
      trans *= np.exp(-density[i, k] * delta)
  return w


def _rays(seed, r=6, s=16):
  rng = np.random.default_rng(seed)
  tdist = np.sort(rng.uniform(1.0, 4.0, (r, s + 1)), -1)
  density = rng.uniform(0.0, 3.0, (r, s))
  dir_norm = rng.uniform(1.0, 1.3, (r, 1))
  rgb = rng.uniform(0, 1, (r, s, 3))
  return tdist, density, dir_norm, rgb


def test_compositing_weights_match_loop():
  tdist, density, dir_norm, _ = _rays(0)
  got = np.asarray(compositing.compositing_weights(jnp.asarray(density, jnp.float32),
                                              jnp.asarray(tdist, jnp.float32),
                                              jnp.asarray(dir_norm, jnp.float32)))
  ref = _ref_weights(density, tdist, dir_norm)
  np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-4)
  assert np.all(got >= 0) and np.all(got.sum(-1) <= 1 + 1e-6)


def test_composite_matches_reference_with_background():
  tdist, density, dir_norm, rgb = _rays(1)
  density *= 0.2  # leave some transmittance for the background
  bg = np.array([0.2, 0.5, 0.9])
  w = _ref_weights(density, tdist, dir_norm)
  color, depth, acc = compositing.composite(jnp.asarray(w, jnp.float32), jnp.asarray(rgb, jnp.float32),
                                       jnp.asarray(tdist, jnp.float32), jnp.asarray(bg, jnp.float32))
  r, s = density.shape
  for i in range(r):
    a = sum(w[i])
    c = sum(w[i, k] * rgb[i, k] for k in range(s)) + (1 - a) * bg
    d = sum(w[i, k] * 0.5 * (tdist[i, k] + tdist[i, k + 1]) for k in range(s)) / a
    d = min(max(d, tdist[i, 0]), tdist[i, -1])
    np.testing.assert_allclose(np.asarray(acc)[i], a, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(color)[i], c, atol=1e-5)
    np.testing.assert_allclose(np.asarray(depth)[i], d, rtol=1e-5)
  assert 0.05 < np.asarray(acc).min() and np.asarray(acc).max() < 0.999


def test_empty_ray_gives_background():
  tdist, _, dir_norm, rgb = _rays(2, r=2)
  w = compositing.compositing_weights(jnp.zeros(rgb.shape[:2]), jnp.asarray(tdist, jnp.float32),
                                 jnp.asarray(dir_norm, jnp.float32))
  color, _, acc = compositing.composite(w, jnp.asarray(rgb, jnp.float32), jnp.asarray(tdist, jnp.float32),
                                   jnp.asarray([0.3, 0.6, 0.1]))
  np.testing.assert_allclose(np.asarray(acc), 0.0, atol=1e-7)
  np.testing.assert_allclose(np.asarray(color), [[0.3, 0.6, 0.1]] * 2, atol=1e-6)


def test_opaque_first_sample():
  tdist, density, dir_norm, rgb = _rays(3)
  density[:, 0] = 1e5
  w = compositing.compositing_weights(jnp.asarray(density, jnp.float32), jnp.asarray(tdist, jnp.float32),
                                 jnp.asarray(dir_norm, jnp.float32))
  w = np.asarray(w)
  np.testing.assert_allclose(w[:, 0], 1.0, atol=1e-6)
  np.testing.assert_allclose(w[:, 1:], 0.0, atol=1e-6)
  color, depth, acc = compositing.composite(jnp.asarray(w), jnp.asarray(rgb, jnp.float32),
                                       jnp.asarray(tdist, jnp.float32), jnp.ones(3))
  np.testing.assert_allclose(np.asarray(color), rgb[:, 0], atol=1e-5)
  np.testing.assert_allclose(np.asarray(depth), 0.5 * (tdist[:, 0] + tdist[:, 1]), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(acc), 1.0, atol=1e-6)


def _hist():
  t = jnp.broadcast_to(jnp.linspace(0.0, 1.0, 11), (3, 11))
  w = jnp.zeros((3, 10)).at[:, 4].set(1.0)
  return t, w


def test_sample_edges_sorted_in_range_and_concentrated():
  t, w = _hist()
  for key in (None, jax.random.PRNGKey(0)):
    e = np.asarray(stepfun.sample_edges(key, t, w, 64))
    assert e.shape == (3, 64)
    assert np.all(np.diff(e, axis=-1) >= 0)
    np.testing.assert_allclose(e[:, 0], 0.0, atol=1e-7)
    np.testing.assert_allclose(e[:, -1], 1.0, atol=1e-6)
    inside = np.mean((e >= 0.4 - 1e-6) & (e <= 0.5 + 1e-6), -1)
    assert np.all(inside > 0.85), inside


def test_sample_edges_uniform_weights_roughly_uniform():
  t = jnp.linspace(2.0, 6.0, 9)[None]
  e = np.asarray(stepfun.sample_edges(None, t, jnp.ones((1, 8)), 33))[0]
  np.testing.assert_allclose(np.diff(e[1:-1]), 4.0 / 33, rtol=1e-3)


def test_interlevel_loss_zero_for_own_histogram():
  rng = np.random.default_rng(4)
  t = jnp.asarray(np.sort(rng.uniform(0, 1, (4, 17)), -1), jnp.float32)
  w = jnp.asarray(rng.dirichlet(np.ones(16), 4), jnp.float32)
  loss = np.asarray(stepfun.interlevel_loss(t, w, t, w))
  np.testing.assert_allclose(loss, 0.0, atol=1e-10)
  # An envelope that misses the weight is penalised.
  bad = np.asarray(stepfun.interlevel_loss(t, w, t, jnp.zeros_like(w)))
  assert np.all(bad.sum(-1) > 0.1)
