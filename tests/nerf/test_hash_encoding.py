"""Hash encoding vs a float64 pure-Python Instant-NGP reference."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from macro_nerf.nerf import hash_encoding as he

P1, P2 = 2654435761, 805459861
L, LOG2T, F = 4, 12, 2
T = 2 ** LOG2T


def _ref_index(c, n, table_size):
  c0, c1, c2 = (int(v) for v in c)
  if (n + 1) ** 3 <= table_size:
    return c0 + (n + 1) * (c1 + (n + 1) * c2)
  h = (c0 * 1) ^ (c1 * P1) ^ (c2 * P2)
  return (h % 2 ** 32) % table_size


def _ref_encode(tables, x, resolutions, table_size):
  tables = np.asarray(tables, np.float64)
  x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
  out = np.zeros((len(x), len(resolutions) * tables.shape[2]))
  for p, xp in enumerate(x):
    for lvl, n in enumerate(resolutions):
      n = int(n)
      pos = [xp[a] * n for a in range(3)]
      base = [min(max(np.floor(v), 0), n - 1) for v in pos]
      frac = [pos[a] - base[a] for a in range(3)]
      acc = np.zeros(tables.shape[2])
      for off in itertools.product((0, 1), repeat=3):
        c = [int(base[a]) + off[a] for a in range(3)]
        w = 1.0
        for a in range(3):
          w *= frac[a] if off[a] else 1.0 - frac[a]
        acc += w * tables[lvl, _ref_index(c, n, table_size)]
      out[p, lvl * tables.shape[2]:(lvl + 1) * tables.shape[2]] = acc
  return out


def _resolutions():
  return tuple(int(r) for r in he.level_resolutions(L, 4, 64))


def test_level_resolutions_geometric():
  r = he.level_resolutions(8, 16, 2048)
  assert r[0] == 16 and abs(int(r[-1]) - 2048) <= 1
  assert np.all(np.diff(r) > 0)
  ratios = r[1:] / r[:-1]
  np.testing.assert_allclose(ratios, 2.0, rtol=0.05)
  assert list(he.level_resolutions(1, 7, 100)) == [7]


def test_mix_of_dense_and_hashed_levels():
  dense = he.level_is_dense(_resolutions(), T)
  assert dense.any() and (~dense).any()


def test_hash_encode_matches_reference():
  rng = np.random.default_rng(0)
  tables = rng.uniform(-1, 1, (L, T, F)).astype(np.float32)
  x = rng.uniform(0, 1, (64, 3)).astype(np.float32)
  x[:4] = [[0, 0, 0], [1, 1, 1], [1, 0, 0.5], [0.999, 0.001, 1]]
  res = _resolutions()
  got = np.asarray(he.hash_encode(jnp.asarray(tables), jnp.asarray(x), res, T))
  ref = _ref_encode(tables, x, res, T)
  assert got.shape == (64, L * F)
  np.testing.assert_allclose(got, ref, atol=2e-5, rtol=1e-4)


def test_hash_encode_batch_shape_and_clipping():
  rng = np.random.default_rng(1)
  tables = rng.uniform(-1, 1, (L, T, F)).astype(np.float32)
  x = rng.uniform(-0.5, 1.5, (2, 5, 3)).astype(np.float32)
  res = _resolutions()
  got = np.asarray(he.hash_encode(jnp.asarray(tables), jnp.asarray(x), res, T))
  assert got.shape == (2, 5, L * F)
  ref = _ref_encode(tables, x.reshape(-1, 3), res, T).reshape(2, 5, -1)
  np.testing.assert_allclose(got, ref, atol=2e-5, rtol=1e-4)


def test_level_indices_uint32_wraparound():
  """Large corner coordinates: c * prime exceeds 2^32 and must wrap like uint32."""
  n, table_size = 100_000, 2 ** 19
  rng = np.random.default_rng(2)
  x = rng.uniform(0.5, 1.0, (32, 3)).astype(np.float32)
  x[0] = [1.0, 1.0, 1.0]
  idx, w = he.level_indices_and_weights(jnp.asarray(x), n, False, table_size)
  idx, w = np.asarray(idx), np.asarray(w)
  assert idx.dtype == np.uint32 and idx.shape == (32, 8)
  pos = x * np.float32(n)  # same float32 arithmetic as the implementation
  base = np.clip(np.floor(pos), 0, n - 1)
  frac = (pos - base).astype(np.float64)
  wrapped = False
  for p in range(len(x)):
    for i in range(8):
      off = (i >> 2 & 1, i >> 1 & 1, i & 1)
      c = [int(base[p, a]) + off[a] for a in range(3)]
      wrapped |= c[1] * P1 >= 2 ** 32 and c[2] * P2 >= 2 ** 32
      assert int(idx[p, i]) == _ref_index(c, n, table_size), (p, i, c)
      ww = np.prod([frac[p, a] if off[a] else 1 - frac[p, a] for a in range(3)])
      assert abs(w[p, i] - ww) < 1e-5
  assert wrapped
  np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)


def test_level_indices_dense_in_range():
  n = 10
  x = jnp.asarray(np.random.default_rng(3).uniform(0, 1, (50, 3)), jnp.float32)
  idx, _ = he.level_indices_and_weights(x, n, True, (n + 1) ** 3)
  idx = np.asarray(idx)
  assert idx.max() < (n + 1) ** 3
  xx = np.asarray(x)
  for p in range(50):
    base = np.clip(np.floor(xx[p] * n), 0, n - 1).astype(int)
    assert int(idx[p, 0]) == _ref_index(base, n, (n + 1) ** 3)


def test_gradients_finite():
  rng = np.random.default_rng(4)
  tables = jnp.asarray(rng.uniform(-1, 1, (L, T, F)), jnp.float32)
  x = jnp.asarray(rng.uniform(0, 1, (128, 3)), jnp.float32)
  res = _resolutions()
  g = jax.grad(lambda t: jnp.sum(he.hash_encode(t, x, res, T) ** 2))(tables)
  g = np.asarray(g)
  assert g.shape == tables.shape
  assert np.all(np.isfinite(g)) and np.any(g != 0)


def test_module_init_range():
  mod = he.HashEncoding(num_levels=3, features=2, log2_table_size=10, base_resolution=4,
                        max_resolution=32)
  x = jnp.asarray(np.random.default_rng(5).uniform(0, 1, (7, 3)), jnp.float32)
  params = mod.init(jax.random.PRNGKey(0), x)
  tab = np.asarray(params["params"]["tables"])
  assert tab.shape == (3, 1024, 2)
  assert np.all(np.abs(tab) <= 1e-4) and np.std(tab) > 1e-6
  out = mod.apply(params, x)
  assert out.shape == (7, 6) and np.all(np.abs(np.asarray(out)) <= 1e-4 + 1e-9)


def _plain_encode(tables, x, resolutions, table_size):
  """hash_encode without its custom gradient: one gather of every level, JAX's own autodiff."""
  num_levels, _, feats = tables.shape
  dense = he.level_is_dense(resolutions, table_size)
  x = jnp.clip(x, 0.0, 1.0)
  idx, w = zip(*[he.level_indices_and_weights(x, int(r), bool(dense[k]), table_size)
                 for k, r in enumerate(resolutions)])
  idx = jnp.stack([i.astype(jnp.int32) + k * table_size for k, i in enumerate(idx)], 1)
  vals = tables.reshape(num_levels * table_size, feats)[idx]
  return jnp.einsum("nlkf,nlk->nlf", vals, jnp.stack(w, 1)).reshape(len(x), -1)


def test_custom_gradient_matches_autodiff():
  """The level-by-level forward and one-scatter backward (interpolate) give JAX's own gradients,
  for the tables and for the points (pose refinement differentiates through x)."""
  rng = np.random.default_rng(5)
  tables = jnp.asarray(rng.uniform(-1, 1, (L, T, F)), jnp.float32)
  x = jnp.asarray(rng.uniform(0.05, 0.95, (96, 3)), jnp.float32)
  res = _resolutions()
  f = lambda enc: lambda t, p: jnp.sum(jnp.sin(3.0 * enc(t, p, res, T)))
  got = jax.grad(f(he.hash_encode), argnums=(0, 1))(tables, x)
  ref = jax.grad(f(_plain_encode), argnums=(0, 1))(tables, x)
  for a, b in zip(got, ref):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(he.hash_encode(tables, x, res, T)),
                             np.asarray(_plain_encode(tables, x, res, T)), rtol=1e-6, atol=1e-6)
