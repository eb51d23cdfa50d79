"""Piecewise-constant functions along rays: proposal resampling and the losses that train it.

After multinerf's stepfun: a ray is a set of sorted edges t (..., n+1) and weights w (..., n).
"""
import jax
import jax.numpy as jnp


def searchsorted(a, v):
  """Indices (idx_lo, idx_hi) with a[idx_lo] <= v < a[idx_hi], clamped to a's range; small n.

  Args:
    a: (..., n) sorted; v: (..., m) queries.
  Returns:
    idx_lo, idx_hi: (..., m) int.
  """
  i = jnp.arange(a.shape[-1])
  v_ge_a = v[..., None, :] >= a[..., :, None]
  idx_lo = jnp.max(jnp.where(v_ge_a, i[:, None], i[:1, None]), -2)
  idx_hi = jnp.min(jnp.where(~v_ge_a, i[:, None], i[-1:, None]), -2)
  return idx_lo, idx_hi


def inner_outer(t0, t1, y1):
  """Inner and outer measures of the step function (t1, y1) over the intervals t0.

  Args:
    t0: (..., n0+1) edges to measure on; t1: (..., n1+1) edges and y1: (..., n1) values.
  Returns:
    y0_inner, y0_outer: (..., n0).
  """
  cy1 = jnp.concatenate([jnp.zeros_like(y1[..., :1]), jnp.cumsum(y1, -1)], -1)
  idx_lo, idx_hi = searchsorted(t1, t0)
  cy1_lo = jnp.take_along_axis(cy1, idx_lo, -1)
  cy1_hi = jnp.take_along_axis(cy1, idx_hi, -1)
  y0_outer = cy1_hi[..., 1:] - cy1_lo[..., :-1]
  y0_inner = jnp.where(idx_hi[..., :-1] <= idx_lo[..., 1:], cy1_lo[..., 1:] - cy1_hi[..., :-1], 0.0)
  return y0_inner, y0_outer


def interlevel_loss(t, w, t_env, w_env, eps=1e-7):
  """Penalises proposal weights w_env that fail to bound the (stopped) NeRF weights w from above.

  Args:
    t: (..., n+1), w: (..., n) the final level; t_env: (..., k+1), w_env: (..., k) a proposal.
  Returns:
    (..., n) per-interval loss.
  """
  _, w_outer = inner_outer(t, t_env, w_env)
  return jnp.maximum(0.0, w - w_outer) ** 2 / (w + eps)


def distortion_loss(t, w):
  """mip-NeRF 360 distortion: pulls each ray's weight into one compact interval.

  Args:
    t: (..., n+1) edges; w: (..., n) weights.
  Returns:
    (...) per-ray loss.
  """
  ut = 0.5 * (t[..., 1:] + t[..., :-1])
  dut = jnp.abs(ut[..., :, None] - ut[..., None, :])
  inter = jnp.sum(w * jnp.sum(w[..., None, :] * dut, -1), -1)
  intra = jnp.sum(w ** 2 * (t[..., 1:] - t[..., :-1]), -1) / 3.0
  return inter + intra


def sample_edges(key, t, w, num_edges, padding=0.01):
  """Draws num_edges sorted edges from the histogram (t, w) by inverting its CDF.

  Stratified with one jitter per ray when key is given, midpoints of strata otherwise.

  Args:
    key: a PRNG key or None; t: (..., n+1) edges; w: (..., n) weights.
  Returns:
    (..., num_edges) sorted edges, the first and last on t's (no gradient).
  """
  w = w + padding / w.shape[-1]
  cdf = jnp.cumsum(w, -1) / jnp.sum(w, -1, keepdims=True)
  cdf = jnp.concatenate([jnp.zeros_like(cdf[..., :1]), jnp.minimum(1.0, cdf)], -1)
  if key is None:
    u = (jnp.arange(num_edges) + 0.5) / num_edges
    u = jnp.broadcast_to(u, t.shape[:-1] + (num_edges,))
  else:
    jitter = jax.random.uniform(key, t.shape[:-1] + (1,))
    u = (jnp.arange(num_edges) + jitter) / num_edges
  idx_lo, idx_hi = searchsorted(cdf, u)
  c0, c1 = jnp.take_along_axis(cdf, idx_lo, -1), jnp.take_along_axis(cdf, idx_hi, -1)
  t0, t1 = jnp.take_along_axis(t, idx_lo, -1), jnp.take_along_axis(t, idx_hi, -1)
  frac = jnp.clip(jnp.nan_to_num((u - c0) / (c1 - c0), nan=0.0), 0.0, 1.0)
  edges = t0 + frac * (t1 - t0)
  # Keep the first and last edge on the ray's extent so the whole range stays covered.
  edges = edges.at[..., 0].set(t[..., 0]).at[..., -1].set(t[..., -1])
  return jax.lax.stop_gradient(jnp.sort(edges, -1))
