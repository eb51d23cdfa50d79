"""Volume rendering: compositing weights along a ray and the quantities they integrate."""
import jax.numpy as jnp


def compositing_weights(density, tdist, dir_norm):
  """w_i = T_i (1 - exp(-sigma_i delta_i)), T_i = exp(-sum_{j<i} sigma_j delta_j).

  Args:
    density: (..., S) sigma of each interval.
    tdist: (..., S+1) interval edges in z-depth units.
    dir_norm: (..., 1) length of the ray direction (delta is the edges' metric distance).
  Returns:
    (..., S) weights.
  """
  delta = (tdist[..., 1:] - tdist[..., :-1]) * dir_norm
  sd = density * delta
  alpha = 1.0 - jnp.exp(-sd)
  trans = jnp.exp(-jnp.concatenate([jnp.zeros_like(sd[..., :1]), jnp.cumsum(sd[..., :-1], -1)], -1))
  return alpha * trans


def composite(weights, rgb, tdist, background):
  """Colour over a background, expected z-depth (normalised by opacity) and opacity.

  Args:
    weights: (..., S); rgb: (..., S, 3); tdist: (..., S+1) edges; background: (3,) or (..., 3).
  Returns:
    color (..., 3), depth (...) clipped to the ray's extent, acc (...).
  """
  acc = jnp.sum(weights, -1)
  color = jnp.sum(weights[..., None] * rgb, -2) + (1.0 - acc[..., None]) * background
  tmid = 0.5 * (tdist[..., 1:] + tdist[..., :-1])
  depth = jnp.sum(weights * tmid, -1) / jnp.maximum(acc, 1e-6)
  depth = jnp.clip(depth, tdist[..., 0], tdist[..., -1])
  return color, depth, acc
