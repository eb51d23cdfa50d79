"""Milliseconds of the optimiser update alone (NaN guard, gradient clip, Adam) at hash-table sizes;
the old update (jnp.where masks and optax's clip) beside the current one, in the same process. JSON.

  python experiments/update_cost.py [--log2_table_sizes=16,18] [--repeats=10]

The tree is the llff config's: a 16-level field table of 2^k x 2 entries, a 5-level proposal table
and MLP-sized matrices; the gradient is a constant (the cost does not depend on its values).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from absl import app, flags  # noqa: E402

from macro_nerf.training.state import TrainState, clip_by_global_norm  # noqa: E402
from macro_nerf.training.steps import guarded_update  # noqa: E402

_SIZES = flags.DEFINE_list("log2_table_sizes", ["16", "18"], "Field hash-table sizes (log2).")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed updates per round (3 rounds, best kept).")


def before(tx):
  """The update of main before this benchmark: masks every array with jnp.where."""
  def update(state, grads, loss):
    grad_sq = sum(jnp.sum(g ** 2) for g in jax.tree.leaves(grads))
    ok = jnp.isfinite(loss) & jnp.isfinite(grad_sq)
    grads = jax.tree.map(lambda g: jnp.where(ok, g, 0.0), grads)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = jax.tree.map(lambda p, u: p + u, state.params, updates)
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
    return state.replace(step=state.step + 1, params=keep(params, state.params),
                         opt_state=keep(opt_state, state.opt_state))
  return update


def now(tx):
  """training.steps' update."""
  return lambda state, grads, loss: guarded_update(tx, state, grads, loss)[0]


def time_update(make, clip, params, repeats):
  tx = optax.chain(clip(1.0), optax.adam(1e-2, b1=0.9, b2=0.99, eps=1e-15))
  grads = jax.tree.map(lambda x: jnp.full_like(x, 1e-3), params)
  state = TrainState(step=jnp.array(0), params=jax.tree.map(jnp.copy, params),
                     opt_state=tx.init(params))
  fn = jax.jit(make(tx), donate_argnums=(0,))
  state = jax.block_until_ready(fn(state, grads, 1.0))
  best = float("inf")
  for _ in range(3):
    t = time.time()
    for _ in range(repeats):
      state = fn(state, grads, 1.0)
    jax.block_until_ready(state)
    best = min(best, 1000.0 * (time.time() - t) / repeats)
  return best


def main(argv):
  del argv
  for log2 in map(int, _SIZES.value):
    params = {"field": jnp.zeros((16, 2 ** log2, 2)), "prop": jnp.zeros((5, 2 ** 14, 2)),
              "mlp": [jnp.zeros((32, 64)), jnp.zeros((64, 64)), jnp.zeros((64, 3))]}
    row = {"log2_table_size": log2,
           "params": sum(x.size for x in jax.tree.leaves(params)),
           "update_ms_before": time_update(before, optax.clip_by_global_norm, params,
                                           _REPEATS.value),
           "update_ms": time_update(now, clip_by_global_norm, params, _REPEATS.value)}
    row["speedup"] = row["update_ms_before"] / row["update_ms"]
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  app.run(main)
