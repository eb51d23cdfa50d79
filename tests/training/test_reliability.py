"""Crash safety, the NaN guard and workdir checks."""
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from helpers import REPO, tiny_config, train_cli_args
from macro_nerf.errors import TrainingError
from macro_nerf.training import loop
from macro_nerf.training.checkpoints import load_run
from macro_nerf.training.loop import train
from macro_nerf.training.state import TrainState, clip_by_global_norm
from macro_nerf.training.steps import make_train_step, squared_norm
from macro_nerf.training.workdir import load_config, save_config


def _final_params(workdir):
  _, _, _, restored = load_run(workdir)
  return int(restored.step), restored.params


def test_sigkill_midway_then_resume_matches_uninterrupted(tiny_scene, tmp_path):
  steps = 10
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  ref, killed = str(tmp_path / "ref"), str(tmp_path / "killed")
  subprocess.run(train_cli_args(tiny_scene, ref, steps), cwd=REPO, env=env, check=True,
                 capture_output=True)
  proc = subprocess.Popen(train_cli_args(tiny_scene, killed, steps), cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  # Kill as soon as a checkpoint past the warm-up exists: mid-run, perhaps mid-save.
  deadline = time.time() + 300
  while not os.path.isdir(os.path.join(killed, "checkpoints", "4")) and time.time() < deadline:
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  subprocess.run(train_cli_args(tiny_scene, killed, steps), cwd=REPO, env=env, check=True,
                 capture_output=True)
  step_a, a = _final_params(ref)
  step_b, b = _final_params(killed)
  assert step_a == step_b == steps
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


def test_nan_step_is_skipped_and_counted():
  params = {"w": jnp.ones(3)}
  tx = optax.adam(0.1)

  def loss_fn(p, key, data, batch):
    loss = jnp.sum(p["w"] ** 2) * data["scale"] * jnp.mean(batch)
    return loss, {"loss": loss}

  step = make_train_step(loss_fn, tx)
  state = TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))
  batch = jnp.ones(4)
  state, stats = step(state, {"scale": jnp.float32(np.nan)}, batch, jax.random.PRNGKey(0))
  assert float(stats["bad_step"]) == 1.0 and int(state.step) == 1
  np.testing.assert_array_equal(np.asarray(state.params["w"]), np.ones(3))
  assert int(state.opt_state[0].count) == 0  # the optimiser did not move either
  state, stats = step(state, {"scale": jnp.float32(1.0)}, batch, jax.random.PRNGKey(0))
  assert float(stats["bad_step"]) == 0.0 and np.all(np.asarray(state.params["w"]) < 1.0)


def test_repeated_nan_steps_stop_the_run_with_last_good_checkpoint(tiny_scene, tmp_path, monkeypatch):
  wd = str(tmp_path / "wd")
  c = tiny_config(tiny_scene)
  c.train.max_steps = 4
  c.train.checkpoint_every = 2
  train(c, wd, progress=False)
  good = _final_params(wd)[1]
  real = loop.make_loss

  def poisoned(*args, **kwargs):
    fn = real(*args, **kwargs)

    def loss_fn(params, key, data, batch):
      loss, stats = fn(params, key, data, batch)
      return loss * jnp.nan, dict(stats, loss=loss * jnp.nan)
    return loss_fn

  monkeypatch.setattr(loop, "make_loss", poisoned)
  c.train.max_steps = 40
  c.train.max_bad_steps = 3
  with pytest.raises(TrainingError, match="3 consecutive steps with NaN/Inf.*step 4"):
    train(c, wd, progress=False)
  step, params = _final_params(wd)
  assert step == 4
  for x, y in zip(jax.tree.leaves(good), jax.tree.leaves(params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_workdir_with_another_config_is_refused_unless_overwrite(tiny_scene, tmp_path):
  wd = str(tmp_path / "wd")
  c = tiny_config(tiny_scene)
  c.train.max_steps = 1
  train(c, wd, progress=False)
  c.train.max_steps = 2  # a longer budget resumes
  train(c, wd, progress=False)
  c.model.width = 32
  with pytest.raises(TrainingError, match="model.width is 64 there, 32 here"):
    train(c, wd, progress=False)
  assert load_config(wd).model.width == 64  # nothing was touched
  _, _, state, summary = train(c, wd, progress=False, overwrite=True)
  assert summary["steps"] == 2 and load_config(wd).model.width == 32


def _cli(module, workdir):
  return subprocess.run([sys.executable, "-m", module, f"--workdir={workdir}"], cwd=REPO,
                        capture_output=True, text=True)


def test_eval_and_render_without_run_or_checkpoint_say_so(tiny_scene, tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  for module in ("macro_nerf.eval", "macro_nerf.render"):
    r = _cli(module, empty)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and "no config found" in lines[-1]
  # A workdir with a config but no checkpoint yet.
  wd = tmp_path / "wd"
  save_config(tiny_config(tiny_scene), str(wd))
  for module in ("macro_nerf.eval", "macro_nerf.render"):
    r = _cli(module, wd)
    assert r.returncode != 0 and "no checkpoint" in r.stderr.strip().splitlines()[-1]
  assert not os.path.exists(wd / "eval") and not os.path.exists(wd / "render")


def test_clip_by_global_norm_matches_optax():
  """The dot-product clip of the field's optimiser is optax's, above and below the bound."""
  rng = np.random.default_rng(0)
  tree = {"t": jnp.asarray(rng.normal(size=(4, 1024, 2)), jnp.float32),
          "m": [jnp.asarray(rng.normal(size=(8, 8)), jnp.float32)]}
  norm = np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(tree)))
  for bound in (0.5 * norm, 2.0 * norm):
    ours, _ = clip_by_global_norm(bound).update(tree, optax.EmptyState())
    ref, _ = optax.clip_by_global_norm(bound).update(tree, optax.EmptyState())
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(float(squared_norm(tree)), norm ** 2, rtol=1e-5)
