"""The disparity-smoothness prior: float64 references, planes cost nothing, gradients, training."""
import json

import jax
import jax.numpy as jnp
import numpy as np

from helpers import defocus_config, tiny_config
from macro_nerf.data.scene import load_scene
from macro_nerf.nerf import camera
from macro_nerf.nerf.render import device_data
from macro_nerf.priors import depth_smooth
from macro_nerf.training.loop import train
from macro_nerf.training.state import init_state


def _curvature_reference(depth, near, far, eps):
  q = (1 / depth - 1 / far[:, None, None]) / (1 / near[:, None, None] - 1 / far[:, None, None])
  charb = lambda x: np.sqrt(x ** 2 + eps ** 2) - eps
  n, s, _ = depth.shape
  tx = [charb(q[k, i, j - 1] - 2 * q[k, i, j] + q[k, i, j + 1])
        for k in range(n) for i in range(s) for j in range(1, s - 1)]
  ty = [charb(q[k, i - 1, j] - 2 * q[k, i, j] + q[k, i + 1, j])
        for k in range(n) for i in range(1, s - 1) for j in range(s)]
  return 0.5 * (np.mean(tx) + np.mean(ty))


def test_disparity_curvature_matches_a_loop():
  rng = np.random.default_rng(0)
  depth = rng.uniform(1.0, 3.0, (3, 6, 6))
  near, far = np.array([0.8, 0.9, 1.0]), np.array([4.0, 5.0, 3.5])
  got = depth_smooth.disparity_curvature(jnp.asarray(depth, jnp.float32),
                                         jnp.asarray(near, jnp.float32),
                                         jnp.asarray(far, jnp.float32), eps=1e-3)
  np.testing.assert_allclose(float(got), _curvature_reference(depth, near, far, 1e-3), rtol=1e-4)


def test_a_plane_costs_nothing_and_a_step_costs_little():
  """A slanted plane seen by a pinhole camera: z-depth from ray-plane intersection, curvature ~0.
  A depth step (an object edge) costs only along the edge (robust penalty), less than noise."""
  c2w = np.eye(4)[:3]
  c2w[:, 3] = [0.1, -0.2, 0.3]
  intr = (20.0, 20.0, 8.0, 8.0)
  s = 16
  py, px = np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5, indexing="ij")
  d = camera.pixel_directions(px, py, c2w, intr)  # unit z-component: t is the z-depth
  normal, offset = np.array([0.2, 0.5, 1.0]), -2.5  # plane n . x = offset, in front of the camera
  z = (offset - c2w[:, 3] @ normal) / (d @ normal)
  assert np.all(z > 0)
  near, far = jnp.array([0.5]), jnp.array([10.0])
  plane = float(depth_smooth.disparity_curvature(jnp.asarray(z[None], jnp.float32), near, far))
  assert plane < 1e-5
  step = np.where(px < s / 2, 2.0, 4.0)[None]
  noisy = 3.0 + np.random.default_rng(0).normal(0, 0.1, (1, s, s))
  c_step = float(depth_smooth.disparity_curvature(jnp.asarray(step, jnp.float32), near, far))
  c_noise = float(depth_smooth.disparity_curvature(jnp.asarray(noisy, jnp.float32), near, far))
  assert plane < c_step < c_noise


def test_random_smooth_patches_are_whole_patches_inside_the_image():
  b = depth_smooth.random_smooth_patches(np.random.default_rng(0), 5, 18, 24, 7, 4)
  assert b["px"].shape == b["py"].shape == (7, 16) and b["cam"].shape == (7,)
  assert b["px"].min() >= 0 and b["px"].max() < 24 and b["py"].min() >= 0 and b["py"].max() < 18
  assert b["cam"].min() >= 0 and b["cam"].max() < 5
  px, py = b["px"].reshape(7, 4, 4), b["py"].reshape(7, 4, 4)
  assert np.all(np.diff(px, axis=2) == 1) and np.all(np.diff(py, axis=1) == 1)


def test_prior_gradients_reach_the_field_and_training_logs_it(tiny_scene, tmp_path):
  c = tiny_config(tiny_scene)
  c.prior.depth_smooth.weight = 0.1
  c.prior.depth_smooth.patches = 2
  c.prior.depth_smooth.size = 4
  scene = load_scene(c)
  model, _, state = init_state(c, scene)
  data = device_data(scene, scene.train_idx)
  batch = depth_smooth.step_batch(c, np.random.default_rng(0), len(scene.train_idx),
                                  scene.height, scene.width, 1)

  def loss(params):
    return depth_smooth.loss(model, params, jax.random.PRNGKey(0), data, batch, c)[0]

  value, grads = jax.jit(jax.value_and_grad(loss))(state.params)
  leaves = jax.tree.leaves(grads)
  assert np.isfinite(float(value)) and float(value) > 0
  assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
  assert sum(float(np.abs(np.asarray(g)).sum()) for g in leaves) > 0
  # Off by default: the batch has no patches and the loss nothing to add.
  c_off = tiny_config(tiny_scene)
  assert depth_smooth.step_batch(c_off, np.random.default_rng(0), 3, 18, 24, 1) == {}
  # A short run with the prior on logs it on every step that trains the field (1: ray, 2 and 4:
  # focus rays, 3: a patch step with its field rays, defocus.patch_rays) and stays finite.
  c = defocus_config(tiny_scene)
  c.defocus.patch_every = 2
  c.prior.depth_smooth.weight = 0.1
  c.prior.depth_smooth.patches = 2
  c.prior.depth_smooth.size = 4
  _, _, state, _ = train(c, str(tmp_path / "smooth"), progress=False)
  log = [json.loads(l) for l in open(tmp_path / "smooth" / "train_log.jsonl")]
  assert ["disparity_curvature" in r for r in log] == [True, True, True, True]
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state.params))
