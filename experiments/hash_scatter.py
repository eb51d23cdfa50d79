"""Milliseconds of the hash encoding's backward scatter-add, corners point-major (N, L, 8) as
before against level-major (L, N, 8) as hash_encoding.interpolate lays them out now; JSON.

  python experiments/hash_scatter.py [--log2_table_sizes=16,18] [--points=65536] [--repeats=10]

Points are uniform in [0, 1]^3 on the llff config's 16 levels (16 .. 2048); the two layouts give
the same gradient (checked), so only the order of the updates differs: level-major fills one
level's table at a time.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags  # noqa: E402

from macro_nerf.nerf import hash_encoding as he  # noqa: E402

_SIZES = flags.DEFINE_list("log2_table_sizes", ["16", "18"], "Hash-table sizes (log2).")
_POINTS = flags.DEFINE_integer("points", 65536, "Encoded points (2048 rays x 32 samples).")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed calls per round (3 rounds, best kept).")


def scatter_point_major(idx, upd, table_size):
  """The layout before: idx (N, L, 8), upd (N, L, 8, F) -> d_tables (L * T, F)."""
  num_levels = idx.shape[1]
  flat = idx + (jnp.arange(num_levels, dtype=idx.dtype) * table_size)[None, :, None]
  return jnp.zeros((num_levels * table_size, upd.shape[-1]), upd.dtype).at[flat].add(
      upd, mode="promise_in_bounds")


def best_ms(fn, args, repeats):
  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(3):
    t = time.perf_counter()
    for _ in range(repeats):
      out = fn(*args)
    jax.block_until_ready(out)
    best = min(best, (time.perf_counter() - t) / repeats * 1000.0)
  return best


def main(argv):
  del argv
  res = he.level_resolutions(16, 16, 2048)
  x = jax.random.uniform(jax.random.PRNGKey(1), (_POINTS.value, 3))
  for log2 in map(int, _SIZES.value):
    t = 2 ** log2
    idx, w = he.corner_indices_and_weights(x, res, t)  # (L, N, 8)
    g = jax.random.normal(jax.random.PRNGKey(2), (len(res), _POINTS.value, 2))
    upd = w[..., None] * g[:, :, None, :]  # (L, N, 8, F)
    lm = (idx, upd)
    pm = (jnp.swapaxes(idx, 0, 1), jnp.swapaxes(upd, 0, 1))
    f_lm = jax.jit(lambda i, u: he.scatter_levels(i, u, t))  # what interpolate's backward runs
    f_pm = jax.jit(lambda i, u: scatter_point_major(i, u, t))
    same = float(jnp.max(jnp.abs(f_lm(*lm) - f_pm(*pm))))
    before, now = best_ms(f_pm, pm, _REPEATS.value), best_ms(f_lm, lm, _REPEATS.value)
    print(json.dumps({"log2_table_size": log2, "points": _POINTS.value,
                      "scatter_ms_point_major": before, "scatter_ms_level_major": now,
                      "speedup": before / now, "max_abs_diff": same}), flush=True)


if __name__ == "__main__":
  app.run(main)
