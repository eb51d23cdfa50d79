"""Data parallelism: 4 forced CPU devices and 2 processes give the same training as 1 device."""
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from helpers import REPO
from helpers import train_cli_args
from macro_nerf.export.evaluation import evaluate
from macro_nerf.training.checkpoints import load_run


def _env(devices):
  # XLA_FLAGS must be set before JAX starts: every multi-device run is its own process.
  return dict(os.environ, JAX_PLATFORMS="cpu",
              XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")


def _params(workdir):
  _, _, _, restored = load_run(workdir)
  return int(restored.step), restored.params


def _assert_close(a, b):
  """Field and lens to float tolerance. The residual network starts with a zero output layer, so
  its first gradients are ~1e-9 and their sign is float noise that depends on the reduction order;
  Adam turns each into a full learning-rate step, so those weights agree only to a few steps of
  the learning rate (~1e-4 here)."""
  for path, x in jax.tree_util.tree_leaves_with_path(a):
    y = b
    for k in path:
      y = y[k.key]
    atol = 2e-3 if "residual" in jax.tree_util.keystr(path) else 1e-5
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=atol,
                               err_msg=jax.tree_util.keystr(path))


def test_step_and_render_on_4_devices_equal_1_device(tiny_scene):
  out = subprocess.run([sys.executable, os.path.join(REPO, "tests", "parallel_worker.py"), tiny_scene],
                       cwd=REPO, env=_env(4), check=True, capture_output=True, text=True)
  r = json.loads(out.stdout.strip().splitlines()[-1])
  assert r["devices"] == 4
  for kind in ("ray", "patch"):
    assert r[kind]["all_reduce"], f"{kind} step was not partitioned over the devices"
    np.testing.assert_allclose(r[kind]["loss_n"], r[kind]["loss_1"], rtol=1e-5)
    assert r[kind]["param_max_diff"] < 1e-5 * max(r[kind]["param_max_abs"], 1.0)
    assert r[kind]["render_max_diff"] < 1e-5


def _args(tiny_scene, workdir, steps, per_device):
  return [a if not a.startswith("--config.train.batch_size=")
          else f"--config.train.batch_size={per_device}"
          for a in train_cli_args(tiny_scene, workdir, steps)]


@pytest.fixture(scope="module")
def ref_run(tiny_scene, tmp_path_factory):
  """4 steps on 1 device at batch 256: what every split of the same global batch must match."""
  ref = str(tmp_path_factory.mktemp("parallel") / "ref")
  subprocess.run(_args(tiny_scene, ref, 4, 256), cwd=REPO, env=_env(1), check=True,
                 capture_output=True)
  return ref


def test_checkpoint_from_4_devices_restores_on_1(tiny_scene, ref_run, tmp_path):
  """Per-device batch 64 on 4 devices = global batch 256 = batch 256 on 1 device (and 4 patches of
  8 x 8 after the warm-up either way)."""
  ref, wd = ref_run, str(tmp_path / "wd")
  subprocess.run(_args(tiny_scene, wd, 4, 64), cwd=REPO, env=_env(4), check=True, capture_output=True)
  step_a, a = _params(ref)  # this test process has 1 device
  step_b, b = _params(wd)
  assert step_a == step_b == 4
  _assert_close(a, b)
  # Eval on 4 devices (the CLI, in a subprocess) equals eval on 1 (here).
  subprocess.run([sys.executable, "-m", "macro_nerf.eval", f"--workdir={wd}"], cwd=REPO,
                 env=_env(4), check=True, capture_output=True)
  with open(os.path.join(wd, "eval", "metrics.json")) as f:
    m4 = json.load(f)
  m1 = evaluate(wd, progress=False)
  for split in ("test", "train_deblur"):
    for name, row in m1.get(split, {}).get("views", {}).items():
      np.testing.assert_allclose(m4[split]["views"][name]["psnr"], row["psnr"], rtol=1e-6)
  assert m1["lens"] and set(m4["lens"]) == set(m1["lens"])
  for name, lens in m1["lens"].items():
    assert m4["lens"][name] == pytest.approx(lens, rel=1e-6)
  # Resume the 4-device run on 1 device: same config (per-device batch), fewer devices.
  subprocess.run(_args(tiny_scene, wd, 6, 64), cwd=REPO, env=_env(1), check=True, capture_output=True)
  step, c = _params(wd)
  assert step == 6 and all(np.all(np.isfinite(x)) for x in jax.tree.leaves(c))


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_match_one(tiny_scene, ref_run, tmp_path):
  """2 processes x 2 devices, per-device batch 64 = 1 process x 1 device, batch 256."""
  ref, dist = ref_run, str(tmp_path / "dist")
  steps = 4
  args = lambda wd, per_device: _args(tiny_scene, wd, steps, per_device)
  port = _free_port()
  procs = [subprocess.Popen(args(dist, 64) + [f"--coordinator_address=localhost:{port}",
                                              "--num_processes=2", f"--process_id={i}"],
                            cwd=REPO, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True) for i in range(2)]
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (o, e) in zip(procs, outs):
    assert p.returncode == 0, e[-2000:]
  summary = json.loads(outs[0][0].strip().splitlines()[-1])
  assert summary["processes"] == 2 and summary["devices"] == 4 and summary["global_batch"] == 256
  assert not [l for l in outs[1][0].splitlines() if l.startswith("{")]  # only process 0 reports
  log = [json.loads(l) for l in open(os.path.join(dist, "train_log.jsonl"))]
  assert [r["step"] for r in log] == list(range(1, steps + 1))  # written once, by process 0
  step_a, a = _params(ref)
  step_b, b = _params(dist)
  assert step_a == step_b == steps
  _assert_close(a, b)
