"""What a training workdir holds besides checkpoints: its config.json, read back with today's
defaults for keys added since, and the check that a resumed run is the same experiment."""
import json
import os
import shutil

import ml_collections

from macro_nerf import config_files, parallel
from macro_nerf.errors import TrainingError

# Keys that may change when a run is resumed (budget, logging, evaluation); any other difference
# means the workdir holds a different experiment.
RESUMABLE_KEYS = ("train.max_steps", "train.log_every", "train.checkpoint_every",
                  "train.keep_checkpoints", "train.max_bad_steps", "eval.")

# Keys renamed since runs were first written: old name -> new name.
RENAMED_KEYS = {
    "train.depth_smooth_weight": "prior.depth_smooth.weight",
    "train.depth_smooth_patches": "prior.depth_smooth.patches",
    "train.depth_smooth_size": "prior.depth_smooth.size",
    "train.support_plane_weight": "prior.support_plane.weight",
    "train.support_plane_step": "prior.support_plane.start",
    "train.support_plane_margin": "prior.support_plane.margin",
    "train.support_plane_ramp": "prior.support_plane.ramp",
    "train.support_plane_refit_every": "prior.support_plane.refit_every",
    "train.support_plane_stop": "prior.support_plane.stop",
    "train.support_plane_min_fraction": "prior.support_plane.min_fraction",
}


def save_config(config, workdir):
  os.makedirs(workdir, exist_ok=True)
  tmp = os.path.join(workdir, ".config.json.tmp")
  with open(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=1))
  os.replace(tmp, os.path.join(workdir, "config.json"))


def load_config(workdir):
  """The config a run was trained with; keys added since it was written take today's defaults
  and renamed keys their new names, so older runs still load."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no config found; is {workdir} a training workdir?")
  with open(path) as f:
    values = json.load(f)
  config = config_files.base_config()
  _merge(config, _tuples(_renamed(values)))
  return config


def _renamed(values):
  """The saved config's values with RENAMED_KEYS moved to their new places."""
  values = json.loads(json.dumps(values))
  for old, new in RENAMED_KEYS.items():
    group, key = old.split(".")
    if key not in values.get(group, {}):
      continue
    node = values
    *parents, leaf = new.split(".")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = values[group].pop(key)
  return values


def _merge(config, values):
  for k, v in values.items():
    if isinstance(v, dict) and isinstance(config.get(k), ml_collections.ConfigDict):
      _merge(config[k], v)
    else:
      with config.ignore_type():
        config[k] = v


def _tuples(x):
  """JSON turns tuples into lists; configs use tuples for sequences."""
  if isinstance(x, dict):
    return {k: _tuples(v) for k, v in x.items()}
  if isinstance(x, list):
    return tuple(_tuples(v) for v in x)
  return x


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
  if not os.path.isfile(os.path.join(workdir, "config.json")):
    return
  old = _flat(json.loads(load_config(workdir).to_json()))
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
