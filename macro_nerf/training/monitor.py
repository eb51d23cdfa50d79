"""What the loop watches besides the loss: the cost of each kind of step, NaN steps, the logs."""
import contextlib
import json
import os
import time

import jax
from tensorboardX import SummaryWriter

from macro_nerf import parallel
from macro_nerf.errors import TrainingError


class PhaseTimer:
  """Steady-state steps/s of each timing phase (schedule.py), with the first call of every step
  function (its compile) timed apart."""

  def __init__(self):
    self.phases = {}  # phase -> [steps timed, seconds]
    self.compile_s = 0.0
    self._compiled = set()
    self._phase, self._t, self._from = None, None, None

  def run(self, step, phase, name, step_fn, state, *args):
    """step_fn(state, *args) as step `step` of `phase`; returns its (state, stats)."""
    fresh = name not in self._compiled
    if phase != self._phase or fresh:
      self.close(step - 1, state)
      self._phase, self._t, self._from = phase, time.time(), step - 1
    if not fresh:
      return step_fn(state, *args)
    t = time.time()
    state, stats = step_fn(state, *args)
    jax.block_until_ready(state.step)
    self.compile_s += time.time() - t
    self._compiled.add(name)
    self._t, self._from = time.time(), step
    return state, stats

  def close(self, step, state):
    """Ends the current phase after `step` (waits for that step's state)."""
    if self._phase is not None and self._from is not None:
      jax.block_until_ready(state.step)
      acc = self.phases.setdefault(self._phase, [0, 0.0])
      acc[0] += step - self._from
      acc[1] += time.time() - self._t

  @contextlib.contextmanager
  def excluded(self, state):
    """Time spent inside (hooks: focus init, plane fits) counts to no phase."""
    jax.block_until_ready(state.step)
    t = time.time()
    yield
    if self._t is not None:
      self._t += time.time() - t

  def rate(self, step):
    """Steps/s of the current phase so far."""
    return (step - self._from) / max(time.time() - self._t, 1e-9)

  def summary(self):
    timed = sum(v[0] for v in self.phases.values())
    seconds = sum(v[1] for v in self.phases.values())
    return {"steps_per_sec": timed / max(seconds, 1e-9) if timed else None,
            "phase_steps_per_sec": {k: v[0] / max(v[1], 1e-9) for k, v in self.phases.items()
                                    if v[0]}}


class BadSteps:
  """Counts steps the NaN/Inf guard skipped and stops the run after max_bad in a row. A step's
  flag is read one step late (or at once with `now`), so the host can run ahead of the device."""

  def __init__(self, max_bad, mgr, workdir):
    self.max_bad, self.mgr, self.workdir = max_bad, mgr, workdir
    self.in_a_row, self.total, self._pending = 0, 0, None

  def push(self, step, stats, now=False):
    if self._pending is not None:
      self._check(*self._pending)
    self._pending = (step, stats)
    if now:
      self._check(step, stats)
      self._pending = None

  def _check(self, step, stats):
    bad = float(parallel.to_host(stats["bad_step"])) > 0
    self.in_a_row = self.in_a_row + 1 if bad else 0
    self.total += bad
    if self.in_a_row >= self.max_bad:
      last = self.mgr.latest_step()
      raise TrainingError(
          f"{self.workdir}: {self.in_a_row} consecutive steps with NaN/Inf loss or gradients (to "
          f"step {step}); stopped. Last good checkpoint: "
          f"{'step ' + str(last) if last is not None else 'none'}")


class Logger:
  """train_log.jsonl, and TensorBoard scalars in WD/tensorboard."""

  def __init__(self, workdir):
    self.f = open(os.path.join(workdir, "train_log.jsonl"), "a")
    self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step, scalars):
    self.f.write(json.dumps({"step": int(step), **scalars}) + "\n")
    self.f.flush()
    for k, v in scalars.items():
      self.tb.add_scalar(f"train/{k}", v, step)
    self.tb.flush()

  def close(self):
    self.f.close()
    self.tb.close()
