"""The training state: parameters (field; for defocus runs the lens and its residual; per-photo
appearance codes), the optimiser and its learning-rate schedules."""
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from macro_nerf.defocus import lens as lens_lib
from macro_nerf.defocus.residual import init_residual, residual_from_config
from macro_nerf.nerf import appearance, pose_refine
from macro_nerf.nerf.model import model_from_config
from macro_nerf.nerf.render import dummy_rays
from macro_nerf.training.steps import squared_norm


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Any
  opt_state: Any


def schedule(config, lr_init=None, lr_final=None):
  """Linear warm-up then exponential decay to lr_final at max_steps."""
  t = config.train
  lr_init = t.lr_init if lr_init is None else lr_init
  lr_final = t.lr_final if lr_final is None else lr_final
  decay_steps = max(t.max_steps - t.warmup_steps, 1)
  warm = optax.linear_schedule(lr_init * 0.01, lr_init, max(t.warmup_steps, 1))
  decay = optax.exponential_decay(lr_init, decay_steps, lr_final / lr_init)
  return optax.join_schedules([warm, decay], [t.warmup_steps])


def clip_by_global_norm(max_norm):
  """optax.clip_by_global_norm, its norm taken by dot products (training.steps.squared_norm)."""

  def update_fn(updates, state, params=None):
    del params
    norm = jnp.sqrt(squared_norm(updates))
    scale = jnp.where(norm < max_norm, 1.0, max_norm / jnp.maximum(norm, 1e-30))
    return jax.tree.map(lambda x: (x * scale).astype(x.dtype), updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def make_optimizer(config):
  """Adam with global-norm clipping; the lens and the pose corrections get their own rates."""
  t = config.train
  field_tx = optax.chain(clip_by_global_norm(t.grad_clip),
                         optax.adam(schedule(config), b1=0.9, b2=0.99, eps=1e-15))
  groups = {}
  if config.defocus.enabled:
    d = config.defocus
    groups["lens"] = (optax.adam(schedule(config, d.lens_lr_init, d.lens_lr_final), b1=0.9,
                                 b2=0.99) if d.learn_lens else optax.set_to_zero())
  if t.get("pose_refine", False):
    groups["pose"] = optax.adam(schedule(config, t.pose_lr_init, t.pose_lr_final), b1=0.9,
                                b2=0.99)
  if not groups:
    return field_tx
  labels = lambda params: {k: (k if k in groups else "field") for k in params}
  return optax.multi_transform({"field": field_tx, **groups}, labels)


def init_state(config, scene):
  """Model, optimiser and the initial TrainState (deterministic in config.seed).

  With defocus on, params = {"model", "lens", "residual"} (+ "appearance" with
  model.appearance, "pose" with train.pose_refine); otherwise the model's own tree, or "model"
  with those that are on.
  """
  model = model_from_config(config, scene)
  key = jax.random.PRNGKey(config.seed)
  # Under jit: op-by-op (eager) init of the hash grids costs ~25 s of CPU, jitted ~4 s.
  params = jax.jit(lambda k: model.init(k, k, dummy_rays(), train=False))(key)["params"]
  idx = scene.train_idx
  parts = {}
  if config.defocus.enabled:
    residual = residual_from_config(config, len(idx))
    parts = {"lens": lens_lib.lens_for_views(config, scene, idx),
             "residual": init_residual(residual, jax.random.fold_in(key, 1))}
  if config.model.get("appearance", False):
    parts["appearance"] = appearance.init_codes(len(idx))
  if config.train.get("pose_refine", False):
    parts["pose"] = pose_refine.init_deltas(len(idx))
  if parts:
    params = {"model": params, **parts}
  tx = make_optimizer(config)
  state = TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))
  return model, tx, state
