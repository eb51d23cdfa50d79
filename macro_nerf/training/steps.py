"""One jit-compiled, data-parallel optimisation step of any loss."""
import jax
import jax.numpy as jnp

from macro_nerf import parallel


def squared_norm(tree):
  """Sum of squares of every leaf, by dot products: XLA's CPU reduction over a large hash table is
  a slow pass of its own (experiments/update_cost.py)."""
  return sum(jnp.vdot(x.ravel(), x.ravel()) for x in jax.tree.leaves(tree))


def guarded_update(tx, state, grads, loss):
  """The optimiser step, skipped when the loss or a gradient is not finite (a bad step leaves
  parameters and optimiser state as they were). Returns (state, squared gradient norm, ok).

  lax.cond runs one branch; masking every array with jnp.where instead cost 4-5 passes over a
  2^18 hash table.
  """
  grad_sq = squared_norm(grads)
  ok = jnp.isfinite(loss) & jnp.isfinite(grad_sq)

  def update(_):
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    return jax.tree.map(lambda p, u: p + u, state.params, updates), opt_state

  params, opt_state = jax.lax.cond(ok, update, lambda _: (state.params, state.opt_state), None)
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), grad_sq, ok


def make_train_step(loss_fn, tx, mesh=None):
  """step(state, data, batch, base_key) -> (state, stats): loss, gradients, clipped Adam; the
  state is donated.

  The batch comes sharded over the mesh's 'data' axis, state and cameras replicated; XLA inserts
  the all-reduce of the gradients, and the new state comes out replicated.
  """
  repl = parallel.replicated(mesh or parallel.make_mesh())

  def step(state, data, batch, base_key):
    key = jax.random.fold_in(base_key, state.step)
    grads, stats = jax.grad(loss_fn, has_aux=True)(state.params, key, data, batch)
    state, grad_sq, ok = guarded_update(tx, state, grads, stats["loss"])
    stats["grad_norm"] = jnp.sqrt(grad_sq)
    stats["bad_step"] = 1.0 - ok.astype(jnp.float32)
    return state, stats

  return jax.jit(step, donate_argnums=(0,), out_shardings=(repl, repl))
