"""One jit-compiled, data-parallel optimisation step of any loss."""
import jax
import jax.numpy as jnp

from macro_nerf import parallel


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
    grad_sq = sum(jnp.sum(g ** 2) for g in jax.tree.leaves(grads))
    # NaN/Inf guard: a bad step leaves parameters and optimiser state as they were.
    ok = jnp.isfinite(stats["loss"]) & jnp.isfinite(grad_sq)
    grads = jax.tree.map(lambda g: jnp.where(ok, g, 0.0), grads)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = jax.tree.map(lambda p, u: p + u, state.params, updates)
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
    stats["grad_norm"] = jnp.sqrt(grad_sq)
    stats["bad_step"] = 1.0 - ok.astype(jnp.float32)
    return state.replace(step=state.step + 1, params=keep(params, state.params),
                         opt_state=keep(opt_state, state.opt_state)), stats

  return jax.jit(step, donate_argnums=(0,), out_shardings=(repl, repl))
