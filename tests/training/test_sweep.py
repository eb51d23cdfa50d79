"""Sweeps: a 2x2 grid on a generated scene with tiny budgets, killed midway and resumed; through
Ray too."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import REPO, dev_scene
from macro_nerf import config_files
from macro_nerf.errors import SweepError
from macro_nerf.training import sweep

TINY = {"data.factor": 4,
        "model.log2_table_size": 10, "model.prop_log2_table_size": 10, "model.num_levels": 4,
        "model.max_resolution": 64, "model.prop_samples": "(16,)", "model.nerf_samples": 8,
        "train.max_steps": 4, "train.log_every": 2, "eval.chunk": 2048,
        "defocus.patch_size": 8, "defocus.margin": 3, "defocus.warmup_steps": 2}

SWEEP = '''
from macro_nerf.sweep import product
def get_sweep():
  return product({"defocus.enabled": [False, True], "train.batch_size": [64, 128]})
'''


def _cmd(sweep_file, root, *extra):
  return ([sys.executable, "-m", "macro_nerf.sweep", "--config=configs/llff.py",
           f"--sweep={sweep_file}", f"--workdir={root}", *extra] +
          [f"--config.{k}={v}" for k, v in {"data.path": dev_scene(), **TINY}.items()])


def _rows(root):
  with open(os.path.join(root, "results.csv")) as f:
    return list(csv.DictReader(f))


def _check_table(root):
  rows = _rows(root)
  assert len(rows) == 4
  assert {(r["defocus.enabled"], r["train.batch_size"]) for r in rows} == {
      ("False", "64"), ("False", "128"), ("True", "64"), ("True", "128")}
  for r in rows:
    assert r["status"] == "done"
    assert np.isfinite(float(r["test_psnr"])) and np.isfinite(float(r["test_ssim"]))
    assert float(r["steps_per_sec"]) > 0 and float(r["wall_s"]) > 0
    # Focus error is known where a lens was learned (the scene has lens.json).
    assert (r["focus_err_median"] != "") == (r["defocus.enabled"] == "True")
  assert open(os.path.join(root, "results.md")).read().count("| done |") == 4


def test_product_and_zipped():
  assert sweep.product({"a": [1, 2], "b": [3, 4]}) == [
      {"a": 1, "b": 3}, {"a": 1, "b": 4}, {"a": 2, "b": 3}, {"a": 2, "b": 4}]
  assert sweep.zipped({"a": [1, 2], "b": [3, 4]}) == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
  with pytest.raises(SweepError, match="different lengths"):
    sweep.zipped({"a": [1], "b": [3, 4]})
  assert sweep.run_name(3, {"defocus.enabled": True, "model.prop_samples": (64,)}) == \
      "003_enabled=True_prop_samples=64,"


def test_bad_sweep_files(tmp_path):
  config = config_files.load("llff")
  bad = tmp_path / "bad.py"
  bad.write_text("def get_sweep():\n  return [{'model.no_such_key': 1}]\n")
  with pytest.raises(SweepError, match=f"{bad}: unknown config key 'model.no_such_key'"):
    sweep.load_sweep(str(bad), config)
  bad.write_text("def get_sweep():\n  return [{'defocus.enabled': 'yes'}]\n")
  with pytest.raises(SweepError, match="does not match"):
    sweep.load_sweep(str(bad), config)
  with pytest.raises(SweepError, match="does not exist"):
    sweep.load_sweep(str(tmp_path / "missing.py"), config)
  res = subprocess.run(_cmd(str(tmp_path / "missing.py"), str(tmp_path / "root")), cwd=REPO,
                       capture_output=True, text=True)
  assert res.returncode != 0 and res.stderr.strip().endswith("sweep file does not exist")
  assert not os.path.exists(tmp_path / "root")


def test_sweep_killed_midway_resumes_without_redoing_runs(tmp_path):
  sweep_file = tmp_path / "grid.py"
  sweep_file.write_text(SWEEP)
  root = str(tmp_path / "root")
  proc = subprocess.Popen(_cmd(str(sweep_file), root, "--workers=2"), cwd=REPO,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  done = lambda: [d for d in sorted(os.listdir(root)) if os.path.isfile(
      os.path.join(root, d, "result.json"))] if os.path.isdir(root) else []
  deadline = time.time() + 600
  while not done() and time.time() < deadline and proc.poll() is None:
    time.sleep(0.2)
  os.killpg(proc.pid, signal.SIGKILL)  # the sweep and the runs in flight
  proc.wait()
  finished = done()
  assert 1 <= len(finished) < 4
  stamp = {d: (os.path.getmtime(os.path.join(root, d, "result.json")),
               open(os.path.join(root, d, "train_log.jsonl")).read()) for d in finished}
  subprocess.run(_cmd(str(sweep_file), root, "--workers=2"), cwd=REPO, check=True,
                 capture_output=True)
  _check_table(root)
  for d, (mtime, log) in stamp.items():  # finished runs were not redone
    assert os.path.getmtime(os.path.join(root, d, "result.json")) == mtime
    assert open(os.path.join(root, d, "train_log.jsonl")).read() == log


def test_sweep_through_ray(tmp_path):
  sweep_file = tmp_path / "grid.py"
  sweep_file.write_text(SWEEP)
  root = str(tmp_path / "root")
  res = subprocess.run(_cmd(str(sweep_file), root, "--ray"), cwd=REPO, capture_output=True,
                       text=True)
  assert res.returncode == 0, res.stderr[-3000:]
  assert json.loads(res.stdout.strip().splitlines()[-1])["failed"] == 0
  _check_table(root)


def test_report_tables(tmp_path):
  csv_path = tmp_path / "results.csv"
  csv_path.write_text("run,model.log2_table_size,test_psnr,test_ssim,train_deblur_psnr,"
                      "focus_err_median,steps_per_sec,wall_s,status\n"
                      "000,14,20.0,0.5,,,4.0,10,done\n001,16,22.0,0.6,,,3.0,12,done\n"
                      "002,18,,,,,,,failed\n")
  res = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "report.py"),
                        str(csv_path), f"--output={tmp_path / 'rep'}"], capture_output=True,
                       text=True, check=True)
  md = (tmp_path / "rep" / "report.md").read_text()
  assert "2 finished runs" in md and "| 14 | 20 | 0.5 | 4 | 10 |" in md
  assert "| 16 | 22 | 0.6 | 3 | 12 |" in md and "| 18 |" not in md
  assert json.loads(res.stdout)["report"].endswith("report.md")
