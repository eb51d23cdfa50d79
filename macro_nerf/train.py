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

from macro_nerf import cli, defocus_training, parallel, pipeline, regularizers
from macro_nerf import exif as exif_lib
from macro_nerf import support_plane
from macro_nerf import lens as lens_lib
from macro_nerf.data import DataError, load_scene
from macro_nerf.image_utils import linear_to_srgb
from macro_nerf.model import proposal_losses



def make_ray_loss(model, config):
  """The naive loss: random pixels, each rendered as one sharp ray."""
  t = config.train

  def loss_fn(params, key, data, batch):
    rays = pipeline.rays_for_pixels(data, batch["cam"], batch["px"].astype(jnp.float32),
                                    batch["py"].astype(jnp.float32))
    out = model.apply({"params": pipeline.model_params(params)}, key, rays, train=True)
    pred = linear_to_srgb(out["rgb"])
    mse = jnp.mean((pred - batch["target"]) ** 2)
    inter, dist = proposal_losses(out["levels"])
    smooth, smooth_stats = regularizers.smoothness_loss(model, pipeline.model_params(params),
                                                        key, data, batch, config)
    plane, plane_stats = support_plane.loss(out, rays, data, config)
    loss = mse + t.interlevel_weight * inter + t.distortion_weight * dist + smooth + plane
    return loss, smooth_stats | plane_stats | {
        "loss": loss, "mse": mse, "psnr": -10.0 * jnp.log10(mse), "interlevel": inter,
        "distortion": dist}

  return loss_fn


def make_train_step(loss_fn, tx, mesh=None):
  """One jit-compiled step: loss, gradients, clipped Adam; the state is donated.

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


def _init_focus_from_depth(render_fn, state, data, config, image_size, mesh, scene):
  """Focus at each photo's median rendered depth; or, when the scene has an exif.json with focus
  distances (tools.colmap writes one), focus and aperture from EXIF scaled by the rendered depth."""
  params = state.params
  med = defocus_training.median_depths(render_fn, params["model"], data, image_size,
                                       config.eval.chunk)
  idx = scene.train_idx
  near, far = scene.near[idx].astype(np.float64), scene.far[idx].astype(np.float64)
  u = np.clip(lens_lib.focus_u_from_depth(med, near, far), 0.0, 1.0)
  log_k = np.asarray(parallel.to_host(params["lens"]["log_kappa"]), np.float64)
  exif_path = os.path.join(scene.path, exif_lib.FILE)
  prior = exif_lib.load_exif_json(exif_path, [scene.names[i] for i in idx]) if (
      config.defocus.exif_prior) else None
  if prior is not None:
    got = lens_lib.lens_from_exif(med, *prior, scene.intrinsics[idx, 0], near, far, log_k)
    if got is not None:
      u, log_k, info = got
      if parallel.is_main():
        print(f"lens from {exif_path}: focus for {info['views_focus']}/{len(idx)} views, "
              f"aperture for {info['views_aperture']}/{len(idx)}; 1 m = "
              f"{info['metres_to_scene'] / scene.scale:.4g} scene units", flush=True)
  lens = dict(params["lens"], focus_u=parallel.replicate(np.asarray(u, np.float32), mesh),
              log_kappa=parallel.replicate(np.asarray(log_k, np.float32), mesh))
  return state.replace(params=dict(params, lens=lens))


def _fit_support_plane(render_fn, state, data, config, mesh, scene, step):
  """data with the support plane of the current field's rendered depth (support_plane.py)."""
  plane, frac = support_plane.estimate(render_fn, pipeline.model_params(state.params), data, scene,
                                       scene.train_idx, config.eval.chunk)
  found = frac >= config.train.get("support_plane_min_fraction", 0.0)
  if parallel.is_main():
    print(f"support plane at step {step}: n = {np.round(plane[:3], 3).tolist()}, "
          f"d = {plane[3]:.4f} (normalised), {100 * frac:.0f} % of rendered points on it"
          + ("" if found else "; too few for a support, prior off"), flush=True)
  if not found:  # a pinned insect has no ground: the largest plane would be a body or a backdrop
    return _without_plane(data), False
  return dict(data, support_plane=parallel.replicate(plane, mesh)), True


def _without_plane(data):
  return {k: v for k, v in data.items() if k != "support_plane"}


def _plane_due(step, have_plane, t):
  """Fit the support plane on the first step after support_plane_step (and on resuming past it),
  then every support_plane_refit_every steps (0: never), once the prior has cleared the view."""
  if step <= t.support_plane_step or _plane_over(step, t):
    return False
  every = t.get("support_plane_refit_every", 0)
  return not have_plane or (every > 0 and (step - t.support_plane_step - 1) % every == 0)


def _plane_over(step, t):
  """After support_plane_stop (0: never) the prior is off: once the ground has replaced the
  backdrop the photos keep it there, and the objects regain the density the prior cost them."""
  stop = t.get("support_plane_stop", 0)
  return stop > 0 and step > stop


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


def check_workdir(config, workdir, overwrite=False, clear=True):
  """Refuses a workdir that holds a run with another config, unless overwrite (which clears it,
  when `clear`: in a multi-process run only process 0 touches files)."""
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
  parallel.sync("workdir read")
  if not clear:
    return
  for name in ("checkpoints", "eval", "tensorboard", "render"):
    shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)
  for name in ("train_log.jsonl", "config.json"):
    if os.path.exists(os.path.join(workdir, name)):
      os.remove(os.path.join(workdir, name))


def train(config, workdir, progress=True, overwrite=False, mesh=None, stop_at=None):
  """Trains (or resumes) to config.train.max_steps (or only to step `stop_at`, with the schedule
  of the full run, checkpointing there); returns the final state and a summary.

  Data-parallel over every device of every process (`mesh`, default all): config.train.batch_size
  is per device, the global batch is that times the device count.
  """
  from tqdm import tqdm
  mesh = mesh or parallel.make_mesh()
  main_process = parallel.is_main()
  # Everything that reads and checks the input first: a bad scene or config writes nothing.
  scene = load_scene(config)
  if config.defocus.enabled:
    _check_patch_fits(config, scene)
  model, tx, state = pipeline.init_state(config, scene)
  check_workdir(config, workdir, overwrite, clear=main_process)
  parallel.sync("workdir checked")
  if main_process:
    pipeline.save_config(config, workdir)
  state = parallel.replicate(state, mesh)
  mgr = pipeline.checkpoint_manager(workdir, config.train.keep_checkpoints)
  restored = pipeline.restore_latest(mgr, state)
  if restored is not None:
    state = restored
  data = pipeline.device_data(scene, scene.train_idx, mesh)
  images = scene.images[scene.train_idx]
  image_size = (scene.height, scene.width)
  ray_step = make_train_step(make_ray_loss(model, config), tx, mesh)
  render_fn = pipeline.make_render_fn(model, mesh)  # focus init and plane fits (traced on use)
  defocus_on = config.defocus.enabled
  warmup = config.defocus.warmup_steps if defocus_on else 0
  num_rays = config.train.batch_size * mesh.size
  every = config.defocus.patch_every
  if defocus_on:
    residual = pipeline.residual_from_config(config, len(scene.train_idx))
    focus_ray_step = make_train_step(defocus_training.make_focus_ray_loss(model, config), tx, mesh)
    patch_step = make_train_step(
        defocus_training.make_defocus_loss(model, residual, config, image_size), tx, mesh)
    num_patches = defocus_training.patches_per_device(config) * mesh.size
  step_fns = {"ray": ray_step, "patch": patch_step if defocus_on else None,
              "focus_ray": focus_ray_step if defocus_on else None}
  compiled = set()

  def batch_for(name, step):
    rng = pipeline.step_rng(config.seed, step)
    if name != "patch":
      b = pipeline.random_pixels(rng, images, num_rays)
      b.update(regularizers.smoothness_batch(config, rng, len(images), scene.height, scene.width,
                                             mesh.size))
    else:
      b = defocus_training.random_patches(rng, images, num_patches, config.defocus.patch_size)
      if config.defocus.blur_ramp_steps > 0:
        ramp = min(1.0, (step - warmup) / config.defocus.blur_ramp_steps)
        b["blur_scale"] = np.full(num_patches, ramp, np.float32)
    return parallel.shard_batch(b, mesh)

  plane_on = config.train.get("support_plane_weight", 0.0) > 0
  base_key = jax.random.PRNGKey(config.seed + 1)
  logger = Logger(workdir) if main_process else None
  start = int(parallel.to_host(state.step))
  max_steps = config.train.max_steps if stop_at is None else min(stop_at, config.train.max_steps)
  t0 = time.time()
  compile_s = 0.0
  phases = {}  # name -> [steps timed, seconds]: steady-state cost of each kind of step
  phase, t_phase, timed_from = None, None, None
  bad = {"run": 0, "total": 0}
  bar = tqdm(total=max_steps, initial=start, disable=not (progress and main_process), desc="train",
             dynamic_ncols=True)
  pending = None  # (step, stats) whose NaN flag is read one step late, so the host runs ahead

  def close_phase(step):
    if phase is not None and timed_from is not None:
      jax.block_until_ready(state.step)
      acc = phases.setdefault(phase, [0, 0.0])
      acc[0] += step - timed_from
      acc[1] += time.time() - t_phase

  def check_bad(step, stats):
    is_bad = float(parallel.to_host(stats["bad_step"])) > 0
    bad["run"] = bad["run"] + 1 if is_bad else 0
    bad["total"] += is_bad
    if bad["run"] >= config.train.max_bad_steps:
      last = mgr.latest_step()
      raise TrainingError(
          f"{workdir}: {bad['run']} consecutive steps with NaN/Inf loss or gradients (to step "
          f"{step}); stopped. Last good checkpoint: "
          f"{'step ' + str(last) if last is not None else 'none'}")

  try:
    for step in range(start + 1, max_steps + 1):
      if plane_on and _plane_due(step, "support_plane" in data, config.train):
        data, plane_on = _fit_support_plane(render_fn, state, data, config, mesh, scene, step)
      if plane_on and _plane_over(step, config.train) and "support_plane" in data:
        data = _without_plane(data)  # the prior ends here
      name = "patch" if defocus_on and step > warmup else "ray"
      if name == "patch" and (every == 0 or (step - warmup) % every != 0):
        name = "focus_ray"
      batch = batch_for(name, step)
      # Timing phases: warm-up rays, then patch, focus_ray, or "mixed" when they alternate; each
      # step function's first call (its compile) is timed apart from the steady state.
      kind = name if name == "ray" or every in (0, 1) else "mixed"
      fresh = name not in compiled
      if kind != phase or fresh:
        close_phase(step - 1)
        if (name != "ray" and step == warmup + 1 and warmup > 0
            and not config.defocus.lens_init):
          # Blur starts now; focus starts at each photo's median rendered depth.
          state = _init_focus_from_depth(render_fn, state, data, config, image_size, mesh,
                                          scene)
        phase, t_phase, timed_from = kind, time.time(), step - 1
      if fresh:
        t_c = time.time()
        state, stats = step_fns[name](state, data, batch, base_key)
        jax.block_until_ready(state.step)
        compile_s += time.time() - t_c
        compiled.add(name)
        t_phase, timed_from = time.time(), step
      else:
        state, stats = step_fns[name](state, data, batch, base_key)
      bar.update(1)
      if pending is not None:
        check_bad(*pending)
      pending = (step, stats)
      log_now = step % config.train.log_every == 0 or step == max_steps
      save_now = step % config.train.checkpoint_every == 0 or step == max_steps
      if log_now or save_now:
        check_bad(*pending)
        pending = None
      if log_now and main_process:
        s = {k: float(v) for k, v in parallel.to_host(stats).items()}
        elapsed = time.time() - t_phase
        s["steps_per_sec"] = (step - timed_from) / max(elapsed, 1e-9)
        s["rays_per_sec"] = s["steps_per_sec"] * num_rays
        s["bad_steps_total"] = bad["total"]
        logger.write(step, s)
        bar.set_postfix(psnr=f"{s['psnr']:.2f}", loss=f"{s['loss']:.4f}")
      if save_now and not bad["run"]:
        mgr.save(step, args=ocp.args.StandardSave(state))
    close_phase(max_steps)
    mgr.wait_until_finished()
  finally:
    bar.close()
    if logger is not None:
      logger.close()
    mgr.close()
  wall = time.time() - t0
  steps = max_steps - start
  timed = sum(v[0] for v in phases.values())
  summary = {"steps": steps, "wall_s": wall, "compile_s": compile_s, "devices": mesh.size,
             "processes": jax.process_count(), "global_batch": num_rays,
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
    parallel.initialize_from_flags()
    _, _, _, summary = train(config, flags.FLAGS.workdir, overwrite=flags.FLAGS.overwrite)
  except (DataError, TrainingError, ValueError) as e:
    sys.exit(f"error: {e}")
  if parallel.is_main():
    print(json.dumps(summary))


def console_main():
  # Flags are defined here, not at import, so modules can import each other without clashes.
  config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, logs and results go.")
  flags.DEFINE_bool("overwrite", False, "Start over in a workdir that holds a different run.")
  parallel.define_flags()
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  console_main()
