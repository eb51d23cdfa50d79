"""The training loop: set up (or resume) a run, then step through the schedule.

Resumes from the newest checkpoint in the workdir. Randomness is derived from (seed, step), so a
resumed run draws the same batches as an uninterrupted one. Data-parallel over every device of
every process (`mesh`, default all): config.train.batch_size is per device, the global batch is
that times the device count.
"""
import dataclasses
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from tqdm import tqdm

from macro_nerf import parallel
from macro_nerf.data.scene import load_scene
from macro_nerf.defocus.focus_init import FocusInit, lens_trained
from macro_nerf.defocus.residual import residual_from_config
from macro_nerf.errors import DataError
from macro_nerf.nerf import render
from macro_nerf.priors.support_plane import SupportPlane
from macro_nerf.training import checkpoints, workdir as workdir_lib
from macro_nerf.training.batches import Batches
from macro_nerf.training.losses import make_loss
from macro_nerf.training.monitor import BadSteps, Logger, PhaseTimer
from macro_nerf.training.schedule import StepSchedule
from macro_nerf.training.state import init_state
from macro_nerf.training.steps import make_train_step


@dataclasses.dataclass
class Run:
  """A run ready to step: its scene, model, optimiser, (restored) state and cameras on device."""
  config: Any
  workdir: str
  scene: Any
  model: Any
  tx: Any
  state: Any
  data: dict
  mgr: Any
  mesh: Any


def check_patch_fits(config, scene):
  p = config.defocus.patch_size
  if config.defocus.enabled and p > min(scene.height, scene.width):
    raise DataError(f"{scene.path}: defocus.patch_size={p} is larger than the images "
                    f"({scene.width}x{scene.height})")


def prepare(config, workdir, overwrite, mesh):
  """Reads and checks the input first (a bad scene or config writes nothing), then the workdir;
  restores the newest checkpoint when there is one."""
  scene = load_scene(config)
  check_patch_fits(config, scene)
  model, tx, state = init_state(config, scene)
  workdir_lib.check_workdir(config, workdir, overwrite, clear=parallel.is_main())
  parallel.sync("workdir checked")
  if parallel.is_main():
    workdir_lib.save_config(config, workdir)
  state = parallel.replicate(state, mesh)
  mgr = checkpoints.checkpoint_manager(workdir, config.train.keep_checkpoints)
  restored = checkpoints.restore_latest(mgr, state)
  if restored is not None:
    state = restored
  data = render.device_data(scene, scene.train_idx, mesh)
  return Run(config, workdir, scene, model, tx, state, data, mgr, mesh)


def step_functions(run, schedule):
  """One jitted step per kind of step the schedule uses (each traced on its first call)."""
  image_size = (run.scene.height, run.scene.width)
  residual = residual_from_config(run.config, len(run.scene.train_idx))
  return {kind: make_train_step(make_loss(kind, run.model, run.config, residual, image_size),
                                run.tx, run.mesh) for kind in schedule.kinds}


def train(config, workdir, progress=True, overwrite=False, mesh=None, stop_at=None):
  """Trains (or resumes) to config.train.max_steps (or only to step `stop_at`, with the schedule
  of the full run, checkpointing there). Returns scene, model, final state and a summary."""
  mesh = mesh or parallel.make_mesh()
  run = prepare(config, workdir, overwrite, mesh)
  schedule = StepSchedule.from_config(config)
  render_fn = render.make_render_fn(run.model, mesh)  # for the hooks (traced on first use)
  hooks = [SupportPlane(config, run.scene, render_fn, mesh),
           FocusInit(config, run.scene, render_fn, mesh)]
  batches = Batches(config, run.scene.images[run.scene.train_idx], schedule, mesh)
  start = int(parallel.to_host(run.state.step))
  max_steps = config.train.max_steps if stop_at is None else min(stop_at, config.train.max_steps)
  t0 = time.time()
  timer = loop(run, schedule, step_functions(run, schedule), hooks, batches, start, max_steps,
               progress)
  return run.scene, run.model, run.state, {
      "steps": max_steps - start, "wall_s": time.time() - t0, "compile_s": timer.compile_s,
      "devices": mesh.size, "processes": jax.process_count(), "global_batch": batches.num_rays,
      "defocus": bool(config.defocus.enabled), "lens_trained": lens_trained(config, max_steps),
      **timer.summary()}


def loop(run, schedule, step_fns, hooks, batches, start, max_steps, progress):
  """Steps start+1 .. max_steps (run.state advances in place); returns the PhaseTimer."""
  t, main = run.config.train, parallel.is_main()
  base_key = jax.random.PRNGKey(run.config.seed + 1)
  timer, bad = PhaseTimer(), BadSteps(t.max_bad_steps, run.mgr, run.workdir)
  logger = Logger(run.workdir) if main else None
  bar = tqdm(total=max_steps, initial=start, disable=not (progress and main), desc="train",
             dynamic_ncols=True)
  try:
    for step in range(start + 1, max_steps + 1):
      for hook in hooks:
        if hook.due(step, run.data):
          with timer.excluded(run.state):
            run.state, run.data = hook(step, run.state, run.data)
      kind = schedule.kind(step)
      batch = batches(kind, step)
      run.state, stats = timer.run(step, schedule.phase(step), kind, step_fns[kind], run.state,
                                   run.data, batch, base_key)
      bar.update(1)
      log_now = step % t.log_every == 0 or step == max_steps
      save_now = step % t.checkpoint_every == 0 or step == max_steps
      bad.push(step, stats, now=log_now or save_now)
      if log_now and main:
        s = {k: float(v) for k, v in parallel.to_host(stats).items()}
        s["steps_per_sec"] = timer.rate(step)
        s["rays_per_sec"] = s["steps_per_sec"] * batches.num_rays
        s["bad_steps_total"] = bad.total
        logger.write(step, s)
        bar.set_postfix(psnr=f"{s['psnr']:.2f}", loss=f"{s['loss']:.4f}")
      if save_now and not bad.in_a_row:
        run.mgr.save(step, args=ocp.args.StandardSave(run.state))
    timer.close(max_steps, run.state)
    run.mgr.wait_until_finished()
  finally:
    bar.close()
    if logger is not None:
      logger.close()
    run.mgr.close()
  return timer
