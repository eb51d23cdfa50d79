"""Throughput and quality at a fixed budget, as JSON.

  python experiments/benchmark.py --config=configs/llff.py --config.data.path=SCENE \
      [--modes=defocus,naive,oracle] [--config.train.max_steps=N] [--workdir=ROOT]

Modes, all with the same config and step budget:
  defocus  the learned thin-lens blur, trained on the blurred photos (data.image_dir);
  naive    the same field trained on the blurred photos as if they were sharp;
  oracle   the same field trained on the all-in-focus images (images_sharp), an upper bound.
Without --modes the config runs as given. `--devices=1,4` runs the config once per device count,
each in its own process with that many devices (on a CPU host, forced host-platform devices), at
the same global batch (train.batch_size is per device: it is divided by the count), and reports
steps/s for each; `--eval=false` skips the evaluation. `--curve_every=N` also evaluates the
held-out views every N steps (same schedule as the full run) and writes ROOT/curves.json and, with
matplotlib, ROOT/curves.png: PSNR against training wall seconds per mode. Per mode: steady-state steps/s and rays/s of every kind of
step (compile excluded), evaluation's forward-only rays/s now and as before beside training's
(`eval_vs_train_rays`), compile seconds, wall time, held-out PSNR/SSIM and, when the scene has
images_sharp, the PSNR of the deblurred training views. Peak RSS is the process's maximum so far.
The last line is one JSON object with every mode and, for defocus, `step_cost_vs_ray`: the cost of
each kind of defocus step (patch, focus_ray, or "mixed" for the default alternation) relative to the
same run's plain ray steps at the same number of supervised pixels.
"""
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from macro_nerf import cli, parallel  # noqa: E402
from macro_nerf.export.evaluation import evaluate  # noqa: E402
from macro_nerf.nerf import render  # noqa: E402
from macro_nerf.nerf.model import model_params  # noqa: E402
from macro_nerf.training.checkpoints import load_run  # noqa: E402
from macro_nerf.training.loop import train  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config name or file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Root for the runs (default: a temporary folder).")
_MODES = flags.DEFINE_list("modes", [], "Any of defocus, naive, oracle (default: the config as is).")
_DEVICES = flags.DEFINE_list("devices", [], "Device counts to compare, e.g. 1,4 (one process each).")
_EVAL = flags.DEFINE_bool("eval", True, "Evaluate after training (PSNR/SSIM).")
_EVAL_SPEED = flags.DEFINE_integer("eval_speed_views", 3, "Views rendered to time evaluation "
                                   "(render only), now and as before (0: skip).")
_CURVE = flags.DEFINE_integer("curve_every", 0, "Also record held-out PSNR every N steps against "
                              "training wall seconds (quality-versus-time curves).")


def mode_config(config, mode):
  c = copy.deepcopy(config)
  sharp = os.path.isdir(os.path.join(c.data.path, "images_sharp"))
  if mode in ("defocus", "naive"):
    c.defocus.enabled = mode == "defocus"
    if sharp and not c.data.eval_sharp_dir:
      c.data.eval_sharp_dir = "images_sharp"
  elif mode == "oracle":
    c.defocus.enabled = False
    c.data.image_dir = "images_sharp"
  else:
    raise ValueError(f"--modes: unknown mode {mode!r}")
  return c


def train_with_curve(config, wd, every):
  """Trains in segments of `every` steps (the schedule of the full run), evaluating the held-out
  views after each; returns the summary of the whole run and [(step, train seconds, PSNR)]."""
  curve, wall, compile_s, timed, timed_s = [], 0.0, 0.0, {}, {}
  stops = sorted(set(list(range(every, config.train.max_steps, every)) + [config.train.max_steps]))
  for i, stop in enumerate(stops):
    _, _, _, summary = train(config, wd, progress=False, stop_at=stop)
    # Each segment re-compiles; an unbroken run compiles once, so count only the first.
    wall += summary["wall_s"] - (summary["compile_s"] if i else 0.0)
    compile_s += summary["compile_s"]
    seg = summary["phase_steps_per_sec"]
    if len(seg) == 1:  # a segment of one kind of step: its steady state counts
      (k, v), = seg.items()
      timed[k] = timed.get(k, 0) + summary["steps"]
      timed_s[k] = timed_s.get(k, 0.0) + summary["steps"] / v
    m = evaluate(wd, progress=False, splits=("test",))
    curve.append({"step": stop, "train_wall_s": wall, "test_psnr": m.get("test", {}).get("psnr")})
    print(json.dumps({"curve_point": curve[-1], "defocus": bool(config.defocus.enabled),
                      "image_dir": config.data.image_dir}), flush=True)
  phases = {k: timed[k] / timed_s[k] for k in timed}
  total = sum(timed.values())
  summary = dict(summary, steps=config.train.max_steps, wall_s=wall, compile_s=compile_s,
                 phase_steps_per_sec=phases,
                 steps_per_sec=total / sum(timed_s.values()) if total else None)
  return summary, curve


def step_costs(phases):
  """Seconds per step of each kind of defocus step (patch, focus_ray, or "mixed" for the default
  alternation of both) over seconds per plain ray step of the same run (its warm-up: the naive
  step), at the same number of supervised pixels; None without both."""
  if "ray" not in phases or len(phases) < 2:
    return None
  return {k: phases["ray"] / v for k, v in phases.items() if k != "ray"}


def eval_speed(wd, views):
  """Forward-only render throughput of a trained run (rays/s, no file writes): as evaluation runs
  now (config eval.chunk, parallel.CHUNK_WORKERS chunks in flight) and as before (4096-ray chunks,
  one at a time), on the first `views` views."""
  config, scene, model, state = load_run(wd)
  params = model_params(state.params)
  data = render.device_data(scene, np.arange(len(scene.names)))
  out = {}
  for name, chunk, workers in (("before", 4096, 1), ("now", config.eval.chunk, None)):
    fn = render.make_render_fn(model)
    cols = lambda i: (np.full(scene.height * scene.width, i, np.int32),) + tuple(
        a.reshape(-1).astype(np.float32) for a in np.meshgrid(
            np.arange(scene.width), np.arange(scene.height), indexing="xy"))
    go = lambda i: parallel.map_chunks(lambda c, x, y: fn(params, data, c, x, y), cols(i), chunk,
                                       fn.mesh, workers)
    go(0)  # compile
    t = time.time()
    for i in range(views):
      go(i % len(scene.names))
    out[name] = views * scene.height * scene.width / (time.time() - t)
  return {"eval_rays_per_sec": out["now"], "eval_rays_per_sec_before": out["before"],
          "eval_chunk": config.eval.chunk, "eval_workers": parallel.CHUNK_WORKERS}


def run_one(config, wd):
  curve = None
  if _CURVE.value:
    summary, curve = train_with_curve(config, wd, _CURVE.value)
  else:
    _, _, _, summary = train(config, wd, progress=False)
  metrics = evaluate(wd, progress=False) if _EVAL.value else {}
  phases = summary["phase_steps_per_sec"]
  rays = (summary["steps_per_sec"] or 0) * summary["global_batch"]
  speed = eval_speed(wd, _EVAL_SPEED.value) if _EVAL_SPEED.value else {}
  if speed and rays:
    speed["eval_vs_train_rays"] = speed["eval_rays_per_sec"] / rays
    speed["eval_vs_train_rays_before"] = speed["eval_rays_per_sec_before"] / rays
  return {
      "image_dir": config.data.image_dir, "defocus": bool(config.defocus.enabled),
      "steps": summary["steps"], "batch_size": config.train.batch_size,
      "devices": summary["devices"], "processes": summary["processes"],
      "global_batch": summary["global_batch"],
      "steps_per_sec": summary["steps_per_sec"],
      "rays_per_sec": rays, **speed,
      "phase_steps_per_sec": phases,
      "step_cost_vs_ray": step_costs(phases),
      "compile_s": summary["compile_s"], "train_wall_s": summary["wall_s"],
      "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
      "test_psnr": metrics.get("test", {}).get("psnr"), "test_ssim": metrics.get("test", {}).get("ssim"),
      "train_deblur_psnr": metrics.get("train_deblur", {}).get("psnr"),
      "curve": curve, "workdir": wd,
  }


def save_curves(out, root):
  """curves.json and, with matplotlib, curves.png: held-out PSNR against training seconds."""
  curves = {m: out[m]["curve"] for m in _MODES.value if out[m].get("curve")}
  if not curves:
    return
  with open(os.path.join(root, "curves.json"), "w") as f:
    json.dump(curves, f, indent=1)
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    print("matplotlib not installed: curves.json written, no plot", file=sys.stderr)
    return
  fig, ax = plt.subplots(figsize=(6, 4))
  for mode, c in curves.items():
    ax.plot([p["train_wall_s"] for p in c], [p["test_psnr"] for p in c], "o-", label=mode)
  ax.set_xlabel("training wall time (s)")
  ax.set_ylabel("held-out PSNR (dB)")
  ax.set_title(os.path.basename(os.path.normpath(out["scene"])))
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(root, "curves.png"), dpi=120)


def device_sweep(config, root, argv):
  """Re-runs this benchmark once per device count, each in a fresh process (XLA_FLAGS must be set
  before JAX starts), at the same global batch."""
  out = {"scene": config.data.path, "global_batch": config.train.batch_size, "runs": []}
  passed = [a for a in argv if not a.startswith(("--devices", "--workdir",
                                                      "--config.train.batch_size"))]
  for n in [int(d) for d in _DEVICES.value]:
    if config.train.batch_size % n:
      raise app.UsageError(f"train.batch_size={config.train.batch_size} does not split over {n}")
    env = dict(os.environ)
    if jax.default_backend() == "cpu":  # accelerators: the devices that are there
      env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                          f" --xla_force_host_platform_device_count={n}").strip()
    cmd = [sys.executable, os.path.abspath(__file__), *passed,
           f"--config.train.batch_size={config.train.batch_size // n}",
           f"--workdir={os.path.join(root, f'devices_{n}')}"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode:
      sys.exit(f"error: the {n}-device run failed:\n{res.stderr[-3000:]}")
    row = json.loads(res.stdout.strip().splitlines()[-1])
    print(json.dumps({"devices": n, **row}), flush=True)
    out["runs"].append(row)
  base = out["runs"][0]["steps_per_sec"]
  for row in out["runs"]:
    row["speedup_vs_first"] = row["steps_per_sec"] / base
  print(json.dumps(out))


def main(argv):
  logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  root = _WORKDIR.value or tempfile.mkdtemp(prefix="macro_nerf_bench_")
  if _DEVICES.value:
    return device_sweep(config, root, sys.argv[1:])
  if not _MODES.value:
    out = {"scene": config.data.path, **run_one(config, root)}
  else:
    out = {"scene": config.data.path, "max_steps": config.train.max_steps}
    for mode in _MODES.value:
      out[mode] = run_one(mode_config(config, mode), os.path.join(root, mode))
      print(json.dumps({"mode": mode, **out[mode]}), flush=True)
    save_curves(out, root)
  print(json.dumps(out))


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=cli.parse_flags)
