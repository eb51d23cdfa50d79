"""Milliseconds per training step of each kind, and per forward render, for config variants; JSON.

  python experiments/step_profile.py --config=llff --config.data.path=SCENE [--steps=20] \
      [--variant=NAME:key=value,key=value ...]

Every variant (the config as given is "base") is timed in this process after its compile: the
jitted step of each kind the config uses on that kind's real batches, and a forward render of
train.batch_size pixels. Cheap enough to compare sample counts, table sizes or priors in minutes.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from macro_nerf import cli  # noqa: E402
from macro_nerf.data.scene import load_scene  # noqa: E402
from macro_nerf.defocus.residual import residual_from_config  # noqa: E402
from macro_nerf.nerf import render  # noqa: E402
from macro_nerf.nerf.model import model_params  # noqa: E402
from macro_nerf.training.batches import Batches  # noqa: E402
from macro_nerf.training.losses import make_loss  # noqa: E402
from macro_nerf.training.schedule import StepSchedule  # noqa: E402
from macro_nerf.training.state import init_state  # noqa: E402
from macro_nerf.training.steps import make_train_step  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config name or file.", lock_config=False)
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per kind (after one compile step).")
_VARIANTS = flags.DEFINE_multi_string("variant", [], "NAME:key=value,key=value (config overrides).")


def parse_value(text):
  try:
    return json.loads(text)
  except json.JSONDecodeError:
    return text


def variant_config(config, spec):
  c = config.copy_and_resolve_references()
  name, _, assigns = spec.partition(":")
  for a in filter(None, assigns.split(",")):
    key, value = a.split("=", 1)
    node = c
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    value = parse_value(value)
    node[leaf] = tuple(value) if isinstance(value, list) else value
  return name, c


def time_fn(fn, n):
  out = fn(0)
  jax.block_until_ready(out)
  t = time.time()
  for i in range(1, n + 1):
    out = fn(i)
  jax.block_until_ready(out)
  return 1000.0 * (time.time() - t) / n


def profile(config, scene, steps):
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("data",))
  model, tx, state = init_state(config, scene)
  data = render.device_data(scene, scene.train_idx, mesh)
  schedule = StepSchedule.from_config(config)
  batches = Batches(config, scene.images[scene.train_idx], schedule, mesh)
  residual = residual_from_config(config, len(scene.train_idx))
  out = {}
  for kind in schedule.kinds:
    step = make_train_step(make_loss(kind, model, config, residual, (scene.height, scene.width)),
                           tx, mesh)
    holder = {"state": jax.tree.map(lambda x: x.copy(), state)}

    def one(i, step=step, kind=kind, holder=holder):
      holder["state"], stats = step(holder["state"], data, batches(kind, 1000 + i),
                                    jax.random.PRNGKey(0))
      return stats["loss"]

    t = time.time()
    one(0)
    out[f"{kind}_compile_s"] = time.time() - t
    out[f"{kind}_ms"] = time_fn(one, steps)
  render_fn = render.make_render_fn(model, mesh)
  n = config.train.batch_size * mesh.size
  rng = np.random.default_rng(0)
  cam = rng.integers(0, len(scene.train_idx), n)
  px, py = rng.integers(0, scene.width, n), rng.integers(0, scene.height, n)
  params = model_params(state.params)
  out["render_ms"] = time_fn(
      lambda i: render.render_pixels(render_fn, params, data, cam, px, py, n)["rgb"], steps)
  out["rays_per_step"] = n
  return out


def main(argv):
  del argv
  config = _CONFIG.value
  scene = load_scene(config)
  specs = ["base:"] + list(_VARIANTS.value)
  for spec in specs:
    name, c = variant_config(config, spec)
    row = {"variant": name, "overrides": spec.partition(":")[2], **profile(c, scene, _STEPS.value)}
    row["ray_rays_per_s"] = row["rays_per_step"] / row["ray_ms"] * 1000.0
    row["render_rays_per_s"] = row["rays_per_step"] / row["render_ms"] * 1000.0
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=cli.parse_flags)
