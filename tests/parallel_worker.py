"""Run by test_parallel.py in a subprocess with N forced host devices: the same global batch through
a 1-device and an all-device mesh; prints the largest differences as JSON.

  XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/parallel_worker.py SCENE
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from helpers import defocus_config  # noqa: E402
from macro_nerf import parallel  # noqa: E402
from macro_nerf.data.scene import load_scene  # noqa: E402
from macro_nerf.defocus.patches import random_patches  # noqa: E402
from macro_nerf.defocus.residual import residual_from_config  # noqa: E402
from macro_nerf.nerf import render  # noqa: E402
from macro_nerf.nerf.model import model_params  # noqa: E402
from macro_nerf.training.batches import random_pixels, step_rng  # noqa: E402
from macro_nerf.training.losses import make_loss  # noqa: E402
from macro_nerf.training.state import init_state  # noqa: E402
from macro_nerf.training.steps import make_train_step  # noqa: E402


def run(config, scene, mesh, kind, global_batch, steps=2):
  """`steps` training steps of one kind on `mesh`, then a sharded render of view 0."""
  model, tx, state = init_state(config, scene)
  state = parallel.replicate(state, mesh)
  data = render.device_data(scene, scene.train_idx, mesh)
  images = scene.images[scene.train_idx]
  size = (scene.height, scene.width)
  if kind == "ray":
    loss = make_loss("ray", model, config)
  else:
    residual = residual_from_config(config, len(scene.train_idx))
    loss = make_loss("patch", model, config, residual, size)
  step = make_train_step(loss, tx, mesh)
  losses, hlo = [], ""
  for i in range(1, steps + 1):
    rng = step_rng(config.seed, i)
    if kind == "ray":
      b = random_pixels(rng, images, global_batch)
    else:
      b = random_patches(rng, images, global_batch, config.defocus.patch_size)
    b = parallel.shard_batch(b, mesh)
    if not hlo:  # the compiled step: XLA must have inserted the gradient all-reduce
      hlo = step.lower(state, data, b, jax.random.PRNGKey(1)).compile().as_text()
    state, stats = step(state, data, b, jax.random.PRNGKey(1))
    losses.append(float(parallel.to_host(stats["loss"])))
  render_fn = render.make_render_fn(model, mesh)
  out = render.render_view(render_fn, model_params(state.params), data, 0,
                             scene.height, scene.width, chunk=100)
  # Field queries (density grids for meshes, vertex colours) go through the same sharding.
  pts = np.random.default_rng(0).uniform(-1, 1, (1001, 3))
  q = render.query_points(render.make_query_fn(model, mesh), model_params(state.params),
                            pts, chunk=256)
  out = dict(out, query_density=q["density"], query_rgb=q["rgb"])
  return parallel.to_host(state.params), losses, out, "all-reduce" in hlo


def max_diff(a, b):
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main(scene_path):
  config = defocus_config(scene_path)
  config.defocus.patch_rays = False  # the patch term alone; its field rays are the "ray" case
  scene = load_scene(config)
  one, every = parallel.make_mesh(jax.devices()[:1]), parallel.make_mesh()
  result = {"devices": every.size}
  # Ray steps (naive model) and patch steps (defocus model), same global batch on both meshes.
  for kind, enabled, batch in (("ray", False, 64), ("patch", True, 4)):
    config.defocus.enabled = enabled
    p1, l1, r1, _ = run(config, scene, one, kind, batch)
    pn, ln, rn, all_reduce = run(config, scene, every, kind, batch)
    result[kind] = {"param_max_diff": max_diff(p1, pn),
                    "param_max_abs": max(float(np.max(np.abs(x))) for x in jax.tree.leaves(p1)),
                    "loss_1": l1, "loss_n": ln, "all_reduce": all_reduce,
                    "render_max_diff": max(float(np.max(np.abs(r1[k] - rn[k]))) for k in r1)}
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv[1])
