"""Multiresolution hash encoding (Instant-NGP), as pure functions plus one flax module.

Levels whose dense grid fits in the table are indexed densely (no collisions); finer levels use the
spatial hash xor(x_i * pi_i) mod T on uint32, with primes (1, 2654435761, 805459861).
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

PRIMES = (1, 2654435761, 805459861)


def level_resolutions(num_levels: int, base_resolution: int, max_resolution: int) -> np.ndarray:
  """Geometric growth b = exp((ln N_max - ln N_min) / (L - 1)); N_l = floor(N_min * b^l)."""
  if num_levels == 1:
    return np.array([base_resolution], np.int64)
  growth = np.exp((np.log(max_resolution) - np.log(base_resolution)) / (num_levels - 1))
  return np.floor(base_resolution * growth ** np.arange(num_levels)).astype(np.int64)


def level_is_dense(resolutions: Sequence[int], table_size: int) -> np.ndarray:
  """A level is dense when all (N+1)^3 grid vertices fit into the table."""
  return np.array([(int(r) + 1) ** 3 <= table_size for r in resolutions])


def level_indices_and_weights(x, resolution: int, dense: bool, table_size: int):
  """Table indices (N, 8) as uint32 and trilinear weights (N, 8) of the 8 cell corners.

  Separable: per-axis terms of the two corner coordinates are combined by broadcasting, which XLA
  fuses far better on CPU than an (N, 8, 3) corner tensor.
  """
  pos = x * resolution
  base = jnp.clip(jnp.floor(pos), 0, resolution - 1)
  frac = pos - base
  b = base.astype(jnp.uint32)
  c = jnp.stack([b, b + jnp.uint32(1)], axis=1)  # (N, 2, 3): the two corner coordinates per axis
  wax = jnp.stack([1.0 - frac, frac], axis=1)  # (N, 2, 3)
  if dense:
    r1 = resolution + 1
    hx, hy, hz = c[:, :, 0], c[:, :, 1] * jnp.uint32(r1), c[:, :, 2] * jnp.uint32(r1 * r1)
    idx = hx[:, :, None, None] + hy[:, None, :, None] + hz[:, None, None, :]
  else:
    hx = c[:, :, 0] * jnp.uint32(PRIMES[0])
    hy = c[:, :, 1] * jnp.uint32(PRIMES[1])
    hz = c[:, :, 2] * jnp.uint32(PRIMES[2])
    idx = (hx[:, :, None, None] ^ hy[:, None, :, None] ^ hz[:, None, None, :]) % jnp.uint32(table_size)
  w = wax[:, :, None, None, 0] * wax[:, None, :, None, 1] * wax[:, None, None, :, 2]
  n = x.shape[0]
  return idx.reshape(n, 8), w.reshape(n, 8)


def _interpolate_levels(tables, idx, w):
  """One gather per level, reduced over the 8 corners at once: (N, L, F)."""
  return jnp.stack([jnp.einsum("nkf,nk->nf", tables[lvl].at[idx[lvl]].get(
      mode="promise_in_bounds"), w[lvl]) for lvl in range(tables.shape[0])], axis=1)


@jax.custom_vjp
def interpolate(tables, idx, w):
  """sum_k tables[l, idx[l, n, k]] * w[l, n, k]: tables (L, T, F), idx (L, N, 8) int32 in
  [0, T), w (L, N, 8) -> (N, L, F).

  Level-major corners: the forward pass gathers level by level, each level's corners reduced as
  they arrive (on CPU twice as fast as one gather of every level, whose (N, L, 8, F) result goes
  through memory). The backward pass is one scatter-add into all levels whose updates come level
  after level, so the cache holds one level's table at a time (2^18 entries: 109 -> 68 ms at 65k
  points against point-major updates, experiments/hash_scatter.py; the gather, eval_speed in
  experiments/benchmark.py).
  """
  return _interpolate_levels(tables, idx, w)


def _interpolate_fwd(tables, idx, w):
  return _interpolate_levels(tables, idx, w), (tables, idx, w)


def scatter_levels(idx, upd, table_size):
  """The tables' gradient (L * T, F): updates upd (L, N, 8, F) added at idx (L, N, 8), level after
  level into one flat buffer."""
  num_levels = idx.shape[0]
  flat_idx = idx + (jnp.arange(num_levels, dtype=idx.dtype) * table_size)[:, None, None]
  return jnp.zeros((num_levels * table_size, upd.shape[-1]), upd.dtype).at[flat_idx].add(
      upd, mode="promise_in_bounds")


def _interpolate_bwd(res, g):
  tables, idx, w = res
  num_levels, table_size, _ = tables.shape
  g = jnp.swapaxes(g, 0, 1)  # (L, N, F)
  d_tables = scatter_levels(idx, w[..., None] * g[:, :, None, :], table_size)
  # d/dw: the corner values again (only computed where x needs a gradient: pose refinement).
  d_w = jnp.stack([jnp.einsum("nkf,nf->nk", tables[lvl].at[idx[lvl]].get(
      mode="promise_in_bounds"), g[lvl]) for lvl in range(num_levels)], axis=0)
  return d_tables.reshape(tables.shape), None, d_w


interpolate.defvjp(_interpolate_fwd, _interpolate_bwd)


def corner_indices_and_weights(x, resolutions: Sequence[int], table_size: int):
  """Level-major corners of points x (N, 3) in [0, 1]^3: idx (L, N, 8) int32, w (L, N, 8)."""
  dense = level_is_dense(resolutions, table_size)
  parts = [level_indices_and_weights(x, int(r), bool(dense[k]), table_size)
           for k, r in enumerate(resolutions)]
  return (jnp.stack([i.astype(jnp.int32) for i, _ in parts]),
          jnp.stack([w for _, w in parts]))


def hash_encode(tables, x, resolutions: Sequence[int], table_size: int):
  """Encodes points x in [0, 1]^3, shape (..., 3), with tables (L, T, F); returns (..., L * F).
  Corner index i has offsets (i >> 2 & 1, i >> 1 & 1, i & 1) along (x, y, z)."""
  num_levels, _, feats = tables.shape
  batch_shape = x.shape[:-1]
  idx, w = corner_indices_and_weights(jnp.clip(x.reshape(-1, 3), 0.0, 1.0), resolutions,
                                      table_size)
  out = interpolate(tables, idx, w.astype(tables.dtype))
  return out.reshape(*batch_shape, num_levels * feats)


class HashEncoding(nn.Module):
  """Learned multiresolution hash tables; input in [0, 1]^3."""
  num_levels: int = 16
  features: int = 2
  log2_table_size: int = 17
  base_resolution: int = 16
  max_resolution: int = 1024
  init_scale: float = 1e-4

  @property
  def resolutions(self):
    return tuple(int(r) for r in level_resolutions(self.num_levels, self.base_resolution,
                                                   self.max_resolution))

  @nn.compact
  def __call__(self, x):
    table_size = 2 ** self.log2_table_size
    scale = self.init_scale
    tables = self.param(
        "tables", lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -scale, scale),
        (self.num_levels, table_size, self.features))
    return hash_encode(tables, x, self.resolutions, table_size)
