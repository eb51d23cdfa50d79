"""Training: python -m macro_nerf.train --config=configs/llff.py --workdir=WD [--config.k=v].

Resumes from the newest checkpoint in WD. Randomness is derived from (seed, step), so a resumed run
draws the same batches as an uninterrupted one.
"""
import json
import os
import shutil
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from absl import app, flags, logging
from ml_collections import config_flags

from macro_nerf import defocus_training, pipeline
from macro_nerf.data import DataError, load_scene
from macro_nerf.image_utils import linear_to_srgb
from macro_nerf.model import proposal_losses



def make_ray_loss(model, config):
  """The naive loss: random pixels, each rendered as one sharp ray."""
  t = config.train

  def loss_fn(params, key, data):
    k_pix, k_model = jax.random.split(key)
    cam, px, py, target = pipeline.random_pixels(k_pix, data, t.batch_size)
    rays = pipeline.rays_for_pixels(data, cam, px.astype(jnp.float32), py.astype(jnp.float32))
    out = model.apply({"params": pipeline.model_params(params)}, k_model, rays, train=True)
    pred = linear_to_srgb(out["rgb"])
    mse = jnp.mean((pred - target) ** 2)
    inter, dist = proposal_losses(out["levels"])
    loss = mse + t.interlevel_weight * inter + t.distortion_weight * dist
    return loss, {"loss": loss, "mse": mse, "psnr": -10.0 * jnp.log10(mse), "interlevel": inter,
                  "distortion": dist}

  return loss_fn


def make_train_step(loss_fn, tx):
  """One jit-compiled step: loss, gradients, clipped Adam; the state is donated."""

  def step(state, data, base_key):
    key = jax.random.fold_in(base_key, state.step)
    grads, stats = jax.grad(loss_fn, has_aux=True)(state.params, key, data)
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

  return jax.jit(step, donate_argnums=(0,))


class Logger:
  """JSONL always; TensorBoard scalars when tensorboardX is importable."""

  def __init__(self, workdir):
    self.f = open(os.path.join(workdir, "train_log.jsonl"), "a")
    try:
      from tensorboardX import SummaryWriter
      self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
    except ImportError:
      self.tb = None

  def write(self, step, scalars):
    self.f.write(json.dumps({"step": int(step), **scalars}) + "\n")
    self.f.flush()
    if self.tb is not None:
      for k, v in scalars.items():
        self.tb.add_scalar(f"train/{k}", v, step)
      self.tb.flush()

  def close(self):
    self.f.close()
    if self.tb is not None:
      self.tb.close()


def _check_patch_fits(config, scene):
  p = config.defocus.patch_size
  if p > min(scene.height, scene.width):
    raise DataError(f"{scene.path}: defocus.patch_size={p} is larger than the images "
                    f"({scene.width}x{scene.height})")


def _init_focus_from_depth(model, state, data, config):
  render_chunk = pipeline.make_render_fn(model)
  params = state.params
  u = defocus_training.median_depth_focus(render_chunk, params["model"], data, config.eval.chunk)
  lens = dict(params["lens"], focus_u=jnp.asarray(u, jnp.float32))
  return state.replace(params=dict(params, lens=lens))


class TrainingError(RuntimeError):
  pass


# Keys that may change when a run is resumed (budget, logging, evaluation); any other difference
# means the workdir holds a different experiment.
RESUMABLE_KEYS = ("train.max_steps", "train.log_every", "train.checkpoint_every",
                  "train.keep_checkpoints", "train.max_bad_steps", "eval.")


def _flat(d, prefix=""):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[prefix + k] = v
  return out


def check_workdir(config, workdir, overwrite=False):
  """Refuses a workdir that holds a run with another config, unless overwrite (which clears it)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    return
  old = _flat(json.loads(pipeline.load_config(workdir).to_json()))
  new = _flat(json.loads(config.to_json()))
  diff = [k for k in sorted(set(old) | set(new))
          if old.get(k) != new.get(k) and not k.startswith(RESUMABLE_KEYS)]
  if not diff:
    return
  if not overwrite:
    k = diff[0]
    more = f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""
    raise TrainingError(f"{workdir} holds a run with a different config: {k} is {old.get(k)!r} "
                        f"there, {new.get(k)!r} here{more}; use another workdir or --overwrite")
  for name in ("checkpoints", "eval", "tensorboard", "render"):
    shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)
  for name in ("train_log.jsonl", "config.json"):
    if os.path.exists(os.path.join(workdir, name)):
      os.remove(os.path.join(workdir, name))


def train(config, workdir, progress=True, overwrite=False):
  """Trains (or resumes) to config.train.max_steps; returns the final state and a summary."""
  from tqdm import tqdm
  check_workdir(config, workdir, overwrite)
  scene = load_scene(config)
  pipeline.save_config(config, workdir)
  model, tx, state = pipeline.init_state(config, scene)
  mgr = pipeline.checkpoint_manager(workdir, config.train.keep_checkpoints)
  restored = pipeline.restore_latest(mgr, state)
  if restored is not None:
    state = restored
  data = pipeline.device_data(scene, scene.train_idx)
  ray_step = make_train_step(make_ray_loss(model, config), tx)
  defocus_on = config.defocus.enabled
  warmup = config.defocus.warmup_steps if defocus_on else 0
  if defocus_on:
    _check_patch_fits(config, scene)
    residual = pipeline.residual_from_config(config, len(scene.train_idx))
    patch_step = make_train_step(
        defocus_training.make_defocus_loss(model, residual, config), tx)
  base_key = jax.random.PRNGKey(config.seed + 1)
  logger = Logger(workdir)
  start = int(state.step)
  max_steps = config.train.max_steps
  t0 = time.time()
  compile_s = 0.0
  phases = {}  # name -> [steps timed, seconds]: steady-state cost of each kind of step
  phase, t_phase, timed_from = None, None, None
  bad_run, bad_total = 0, 0
  bar = tqdm(total=max_steps, initial=start, disable=not progress, desc="train", dynamic_ncols=True)
  stats = None

  def close_phase(step):
    if phase is not None and timed_from is not None:
      jax.block_until_ready(state.step)
      acc = phases.setdefault(phase, [0, 0.0])
      acc[0] += step - timed_from
      acc[1] += time.time() - t_phase

  try:
    for step in range(start + 1, max_steps + 1):
      name = "patch" if defocus_on and step > warmup else "ray"
      if name != phase:  # a new kind of step: time its compile apart from its steady state
        close_phase(step - 1)
        if name == "patch" and step == warmup + 1 and warmup > 0:
          # Blur starts now; focus starts at each photo's median rendered depth.
          state = _init_focus_from_depth(model, state, data, config)
        t_c = time.time()
        state, stats = (patch_step if name == "patch" else ray_step)(state, data, base_key)
        jax.block_until_ready(state.step)
        compile_s += time.time() - t_c
        phase, t_phase, timed_from = name, time.time(), step
      else:
        state, stats = (patch_step if name == "patch" else ray_step)(state, data, base_key)
      bar.update(1)
      bad_run = bad_run + 1 if float(stats["bad_step"]) else 0
      bad_total += bool(bad_run)
      if bad_run >= config.train.max_bad_steps:
        last = mgr.latest_step()
        raise TrainingError(
            f"{workdir}: {bad_run} consecutive steps with NaN/Inf loss or gradients (to step "
            f"{step}); stopped. Last good checkpoint: "
            f"{'step ' + str(last) if last is not None else 'none'}")
      if step % config.train.log_every == 0 or step == max_steps:
        s = {k: float(v) for k, v in jax.device_get(stats).items()}
        elapsed = time.time() - t_phase
        s["steps_per_sec"] = (step - timed_from) / max(elapsed, 1e-9)
        s["rays_per_sec"] = s["steps_per_sec"] * config.train.batch_size
        s["bad_steps_total"] = bad_total
        logger.write(step, s)
        bar.set_postfix(psnr=f"{s['psnr']:.2f}", loss=f"{s['loss']:.4f}")
      if (step % config.train.checkpoint_every == 0 or step == max_steps) and not bad_run:
        mgr.save(step, args=ocp.args.StandardSave(state))
    close_phase(max_steps)
    mgr.wait_until_finished()
  finally:
    bar.close()
    logger.close()
    mgr.close()
  wall = time.time() - t0
  steps = max_steps - start
  timed = sum(v[0] for v in phases.values())
  summary = {"steps": steps, "wall_s": wall, "compile_s": compile_s,
             "steps_per_sec": timed / max(sum(v[1] for v in phases.values()), 1e-9) if timed else None,
             "phase_steps_per_sec": {k: v[0] / max(v[1], 1e-9) for k, v in phases.items() if v[0]}}
  return scene, model, state, summary


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  config = flags.FLAGS.config
  if not config.data.path:
    sys.exit("error: set --config.data.path=SCENE_FOLDER")
  try:
    _, _, _, summary = train(config, flags.FLAGS.workdir, overwrite=flags.FLAGS.overwrite)
  except (DataError, TrainingError) as e:
    sys.exit(f"error: {e}")
  print(json.dumps(summary))


def console_main():
  # Flags are defined here, not at import, so modules can import each other without clashes.
  config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, logs and results go.")
  flags.DEFINE_bool("overwrite", False, "Start over in a workdir that holds a different run.")
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)


if __name__ == "__main__":
  console_main()
