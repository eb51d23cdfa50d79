"""Hyperparameter sweeps, locally or on a Ray cluster (the command is macro_nerf/sweep.py).

  python -m macro_nerf.sweep --config=configs/llff.py --sweep=experiments/sweeps/NAME.py \
      --workdir=ROOT [--workers=N | --ray [--ray_address=ADDR]] [--config.key=value ...]

A sweep file defines get_sweep() -> list of {flattened config key: value} (see `product`, `zipped`).
Every run trains and evaluates in its own process, in ROOT/<run name>/ with its config; a run that
finished (ROOT/<run>/result.json) is skipped, and an interrupted one resumes from its checkpoint,
so an interrupted sweep picks up where it stopped. ROOT/results.csv and ROOT/results.md hold one row
per run: its overrides, PSNR, SSIM, focus error (when the scene has lens.json), steps/s, wall time.
With --ray every run is a Ray task (the workdir must be on storage every node sees); without an
address Ray starts a local instance on this machine.
"""
import concurrent.futures
import copy
import csv
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import time

from tqdm import tqdm

from macro_nerf import config_check
from macro_nerf.errors import SweepError

METRIC_COLUMNS = ("test_psnr", "test_ssim", "train_deblur_psnr", "focus_err_median",
                  "steps_per_sec", "wall_s")


# ----------------------------------------------------------------------------- sweep files

def product(axes):
  """Every combination: product({"a": [1, 2], "b": [3, 4]}) -> 4 override dicts."""
  keys = list(axes)
  return [dict(zip(keys, vals)) for vals in itertools.product(*(axes[k] for k in keys))]


def zipped(axes):
  """Values taken together: zipped({"a": [1, 2], "b": [3, 4]}) -> [{a: 1, b: 3}, {a: 2, b: 4}]."""
  lengths = {len(v) for v in axes.values()}
  if len(lengths) > 1:
    raise SweepError(f"zipped: axes have different lengths {sorted(lengths)}")
  keys = list(axes)
  return [dict(zip(keys, vals)) for vals in zip(*(axes[k] for k in keys))]


def load_sweep(path, config=None):
  """The override dicts of a sweep file, checked against `config` (unknown keys are refused)."""
  if not os.path.isfile(path):
    raise SweepError(f"{path}: sweep file does not exist")
  spec = importlib.util.spec_from_file_location("_sweep_file", path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except Exception as e:  # a user's file: report whatever it raised, in one line
    raise SweepError(f"{path}: cannot load ({type(e).__name__}: {e})") from None
  if not hasattr(module, "get_sweep"):
    raise SweepError(f"{path}: defines no get_sweep()")
  runs = list(module.get_sweep())
  if not runs or not all(isinstance(r, dict) for r in runs):
    raise SweepError(f"{path}: get_sweep() must return a non-empty list of dicts")
  if config is not None:
    for r in runs:
      for k, v in r.items():
        _check_key(config, k, v, path)
  return runs


def _check_key(config, key, value, path):
  node = config
  parts = key.split(".")
  for p in parts[:-1]:
    if p not in node:
      raise SweepError(f"{path}: unknown config key {key!r}")
    node = node[p]
  if parts[-1] not in node:
    raise SweepError(f"{path}: unknown config key {key!r}")
  old = node[parts[-1]]
  if isinstance(old, bool) != isinstance(value, bool) or (
      isinstance(old, (int, float)) and not isinstance(value, (int, float))):
    raise SweepError(f"{path}: {key}={value!r} does not match the config's {old!r}")


def merged(config, overrides):
  """A copy of config with a run's {flattened key: value} overrides (types as the sweep gives)."""
  c = copy.deepcopy(config)
  with c.ignore_type():
    for key, value in overrides.items():
      *groups, leaf = key.split(".")
      node = c
      for g in groups:
        node = node[g]
      node[leaf] = value
  return c


def check_runs(config, runs, sweep_file):
  """Every run's config checked by config_check before anything runs or is written; a bad value
  a run sets names the run."""
  for i, r in enumerate(runs):
    bad = config_check.problems(merged(config, r))
    if bad:
      where = f"{sweep_file}: run {run_name(i, r)}: " if bad[0][0] in r else ""
      raise SweepError(where + config_check.message(*bad[0]))


def run_name(index, overrides):
  """A readable, filesystem-safe folder name: 000_enabled=True_batch_size=1024."""
  parts = [f"{k.split('.')[-1]}={_flag_value(v)}" for k, v in overrides.items()]
  name = re.sub(r"[^A-Za-z0-9=._,-]+", "", "_".join(parts))[:80]
  return f"{index:03d}_{name}" if name else f"{index:03d}"


def _flag_value(v):
  if isinstance(v, (tuple, list)):
    return "(" + ",".join(str(x) for x in v) + ("," if len(v) == 1 else "") + ")"
  return str(v)


# ----------------------------------------------------------------------------- one run

def focus_error(metrics, scene_path):
  """Median relative error of the learned focus distances against the scene's lens.json."""
  path = os.path.join(scene_path, "lens.json")
  lens = metrics.get("lens") or {}
  if not lens or not os.path.isfile(path):
    return None
  with open(path) as f:
    truth = {v["file"]: v["focus_distance"] for v in json.load(f)["views"]}
  errs = [abs(v["focus_distance"] - truth[k]) / truth[k] for k, v in lens.items() if k in truth]
  return float(sorted(errs)[len(errs) // 2]) if errs else None


def run_one(config_file, base_flags, overrides, workdir, env=None):
  """Trains and evaluates one run in a subprocess (skipped when it finished before); its row."""
  done = os.path.join(workdir, "result.json")
  if os.path.isfile(done):
    with open(done) as f:
      return json.load(f)
  cmd = ([sys.executable, "-m", "macro_nerf.sweep_run", f"--config={config_file}",
          f"--workdir={workdir}"] + list(base_flags) +
         [f"--config.{k}={_flag_value(v)}" for k, v in overrides.items()])
  t0 = time.time()
  res = subprocess.run(cmd, capture_output=True, text=True, env=env)
  if res.returncode:
    lines = [l for l in res.stderr.strip().splitlines() if l.strip()] or ["(no output)"]
    err = next((l for l in reversed(lines) if l.startswith("error:")), lines[-1])
    return {"run": os.path.basename(workdir), **overrides, "status": "failed", "error": err}
  row = json.loads(res.stdout.strip().splitlines()[-1])
  row = {"run": os.path.basename(workdir), **overrides, "status": "done", **row,
         "sweep_wall_s": time.time() - t0}
  tmp = done + ".tmp"
  with open(tmp, "w") as f:
    json.dump(row, f, indent=1)
  os.replace(tmp, done)
  return row


# ----------------------------------------------------------------------------- the sweep

def write_tables(root, rows, keys):
  cols = ["run"] + keys + list(METRIC_COLUMNS) + ["status"]
  tmp = os.path.join(root, ".results.csv.tmp")
  with open(tmp, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
      w.writerow({c: r.get(c, "") for c in cols})
  os.replace(tmp, os.path.join(root, "results.csv"))

  def fmt(v):
    if isinstance(v, float):
      return f"{v:.4g}"
    return "" if v is None else str(v)

  lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
  lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
  with open(os.path.join(root, "results.md"), "w") as f:
    f.write("\n".join(lines) + "\n")


def sweep(config_file, sweep_file, root, base_flags=(), workers=1, use_ray=False,
          ray_address=None, config=None, progress=True):
  """Runs every run of the sweep not yet done; returns the rows in sweep order."""
  runs = load_sweep(sweep_file, config)
  if config is not None:
    check_runs(config, runs, sweep_file)
  keys = list(dict.fromkeys(k for r in runs for k in r))
  os.makedirs(root, exist_ok=True)
  with open(os.path.join(root, "sweep.json"), "w") as f:
    json.dump({"config": config_file, "sweep": sweep_file, "flags": list(base_flags),
               "runs": runs}, f, indent=1, default=str)
  jobs = [(config_file, list(base_flags), r, os.path.join(root, run_name(i, r)))
          for i, r in enumerate(runs)]
  rows = [None] * len(jobs)
  bar = tqdm(total=len(jobs), desc="sweep", disable=not progress)
  if use_ray:
    import ray
    ray.init(address=ray_address or None, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run_one)
    env = dict(os.environ)
    pending = {remote.remote(*job, env=env): i for i, job in enumerate(jobs)}
    while pending:
      ready, _ = ray.wait(list(pending), num_returns=1)
      for ref in ready:
        rows[pending.pop(ref)] = ray.get(ref)
        bar.update(1)
        write_tables(root, [r for r in rows if r], keys)
  else:
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(workers, 1)) as ex:
      futures = {ex.submit(run_one, *job): i for i, job in enumerate(jobs)}
      for fut in concurrent.futures.as_completed(futures):
        rows[futures[fut]] = fut.result()
        bar.update(1)
        write_tables(root, [r for r in rows if r], keys)
  bar.close()
  write_tables(root, rows, keys)
  return rows
