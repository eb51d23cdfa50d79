"""The defocus steps' losses: gradients reach lens, residual and field; lens-only patch steps; the
blur ramp; focus-weighted rays against a float64 reference."""
import jax
import numpy as np

from helpers import defocus_config
from macro_nerf import image_utils
from macro_nerf.data.scene import load_scene
from macro_nerf.defocus.patches import random_patches
from macro_nerf.defocus.residual import residual_from_config
from macro_nerf.nerf.render import device_data, rays_for_pixels
from macro_nerf.training.batches import random_pixels
from macro_nerf.training.losses import make_loss
from macro_nerf.training.state import init_state


def _defocus_loss_setup(path, **defocus):
  """Tiny defocus config, its initial state, the patch loss, cameras and a batch of 2 patches."""
  c = defocus_config(path)
  c.defocus.init_radius_px = 1.5
  c.defocus.patch_rays = False  # the patch term alone (patch_rays: see the test below)
  c.defocus.update(defocus)
  scene = load_scene(c)
  model, _, state = init_state(c, scene)
  residual = residual_from_config(c, len(scene.train_idx))
  loss_fn = make_loss("patch", model, c, residual, (scene.height, scene.width))
  data = device_data(scene, scene.train_idx)
  batch = random_patches(np.random.default_rng(0), scene.images[scene.train_idx], 2,
                         c.defocus.patch_size)
  return state, loss_fn, data, batch


def test_defocus_gradients_reach_lens_residual_and_field(tiny_scene):
  state, loss_fn, data, batch = _defocus_loss_setup(tiny_scene)
  # A non-zero residual output layer, so gradients also reach its hidden layers.
  params = jax.tree_util.tree_map_with_path(
      lambda p, x: x + 0.01 if "out" in jax.tree_util.keystr(p) else x, state.params)
  grads, stats = jax.jit(jax.grad(loss_fn, has_aux=True))(params, jax.random.PRNGKey(0), data,
                                                             batch)
  for leaf in jax.tree.leaves(grads):
    assert np.all(np.isfinite(leaf))
  for g in (grads["lens"]["focus_u"], grads["lens"]["log_kappa"]):
    assert np.abs(np.asarray(g)).sum() > 0
  for part in ("model", "residual"):
    assert sum(float(np.abs(np.asarray(g)).sum()) for g in jax.tree.leaves(grads[part])) > 0
  assert np.isfinite(float(stats["loss"]))


def test_lens_only_patch_steps_hold_the_field(tiny_scene):
  """defocus.patch_field_grad=False: the same loss value, gradients only for lens and residual."""
  key = jax.random.PRNGKey(0)
  state, full_fn, data, batch = _defocus_loss_setup(tiny_scene)
  _, lens_fn, _, _ = _defocus_loss_setup(tiny_scene, patch_field_grad=False, margin_grad=True)
  _, s_full = jax.jit(full_fn)(state.params, key, data, batch)
  grads, s_lens = jax.jit(jax.grad(lens_fn, has_aux=True))(state.params, key, data, batch)
  # margin_grad=False renders interior and margin with two keys, so compare with margin_grad=True.
  _, mg_fn, _, _ = _defocus_loss_setup(tiny_scene, margin_grad=True)
  _, s_mg = jax.jit(mg_fn)(state.params, key, data, batch)
  np.testing.assert_allclose(float(s_lens["mse"]), float(s_mg["mse"]), rtol=1e-6)
  assert np.isfinite(float(s_full["mse"]))
  assert all(float(np.abs(np.asarray(g)).max()) == 0 for g in jax.tree.leaves(grads["model"]))
  assert np.abs(np.asarray(grads["lens"]["focus_u"])).sum() > 0
  assert np.abs(np.asarray(grads["lens"]["log_kappa"])).sum() > 0


def test_patch_rays_train_the_field_and_leave_the_lens_to_the_patches(tiny_scene):
  """defocus.patch_rays: the lens gradient is the patch term's alone, the field gets the rays'."""
  key = jax.random.PRNGKey(0)
  state, lens_fn, data, patches = _defocus_loss_setup(tiny_scene, patch_field_grad=False)
  _, both_fn, _, _ = _defocus_loss_setup(tiny_scene, patch_field_grad=False, patch_rays=True)
  c = defocus_config(tiny_scene)
  scene = load_scene(c)
  rays = random_pixels(np.random.default_rng(1), scene.images[scene.train_idx], 64)
  grads, stats = jax.jit(jax.grad(both_fn, has_aux=True))(
      state.params, key, data, {"patch": patches, "ray": rays})
  g_lens, s_lens = jax.jit(jax.grad(lens_fn, has_aux=True))(
      state.params, jax.random.split(key)[0], data, patches)
  for name in ("focus_u", "log_kappa"):
    np.testing.assert_allclose(np.asarray(grads["lens"][name]), np.asarray(g_lens["lens"][name]),
                               rtol=1e-5, atol=1e-9)
  assert sum(float(np.abs(np.asarray(g)).sum()) for g in jax.tree.leaves(grads["model"])) > 0
  for leaf in jax.tree.leaves(grads):
    assert np.all(np.isfinite(leaf))
  np.testing.assert_allclose(float(stats["patch_mse"]), float(s_lens["mse"]), rtol=1e-6)
  assert np.isfinite(float(stats["focus_weight_mean"]))


def test_blur_ramp_scales_the_radius_and_holds_the_lens(tiny_scene):
  """defocus.blur_ramp_steps: a blur_scale s < 1 blurs with s * r and gives the lens no gradient;
  s = 1 is the plain loss."""
  state, loss_fn, data, batch = _defocus_loss_setup(tiny_scene)
  key = jax.random.PRNGKey(0)
  grad_fn = jax.jit(jax.grad(loss_fn, has_aux=True))
  grad = lambda b: grad_fn(state.params, key, data, b)
  g_plain, s_plain = grad(batch)
  g_one, s_one = grad(dict(batch, blur_scale=np.ones(2, np.float32)))
  g_half, s_half = grad(dict(batch, blur_scale=np.full(2, 0.5, np.float32)))
  np.testing.assert_allclose(float(s_one["loss"]), float(s_plain["loss"]), rtol=1e-6)
  np.testing.assert_allclose(float(s_half["radius_mean"]), 0.5 * float(s_plain["radius_mean"]),
                             rtol=1e-4)
  assert np.abs(np.asarray(g_one["lens"]["log_kappa"])).sum() > 0
  assert np.abs(np.asarray(g_half["lens"]["log_kappa"])).sum() == 0
  assert np.abs(np.asarray(g_half["lens"]["focus_u"])).sum() == 0
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(g_half["model"]))


def test_focus_ray_loss_weights_in_focus_pixels(tiny_scene):
  """The focus_ray loss: mse = sum w e / sum w with w = f + (1 - f) / (1 + (r / r0)^p),
  r = kappa |1/z - 1/s|
  from the rendered depth (float64 reference); the lens gets no gradient from it."""
  c = defocus_config(tiny_scene)
  c.defocus.init_radius_px = 1.5
  c.defocus.focus_weight_power = 4.0
  c.defocus.focus_weight_floor = 0.1
  c.defocus.focus_weight_relative = False  # absolute radii here; relative ones are tested below
  scene = load_scene(c)
  model, _, state = init_state(c, scene)
  data = device_data(scene, scene.train_idx)
  batch = random_pixels(np.random.default_rng(0), scene.images[scene.train_idx], 64)
  key = jax.random.PRNGKey(0)
  loss_fn = make_loss("focus_ray", model, c)
  (loss, stats), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(state.params, key,
                                                                            data, batch)
  rays = rays_for_pixels(data, batch["cam"], batch["px"].astype(np.float32),
                                  batch["py"].astype(np.float32))
  out = jax.jit(lambda p, r: model.apply({"params": p}, key, r, train=True))(
      state.params["model"], rays)
  lens = {k: np.asarray(v, np.float64) for k, v in state.params["lens"].items()}
  cam = batch["cam"]
  near, far = np.asarray(data["near"], np.float64)[cam], np.asarray(data["far"], np.float64)[cam]
  inv_s = 1 / far + lens["focus_u"][cam] * (1 / near - 1 / far)
  r = np.exp(lens["log_kappa"][cam]) * np.abs(1 / np.asarray(out["depth"], np.float64) - inv_s)
  w = 0.1 + 0.9 / (1 + (r / c.defocus.focus_weight_radius) ** c.defocus.focus_weight_power)
  pred = np.asarray(image_utils.linear_to_srgb(out["rgb"]), np.float64)
  err = np.mean((pred - batch["target"]) ** 2, -1)
  np.testing.assert_allclose(float(stats["mse"]), np.sum(w * err) / np.sum(w), rtol=1e-4)
  assert 0.1 < float(stats["focus_weight_mean"]) < 1
  assert np.abs(np.asarray(grads["lens"]["log_kappa"])).sum() == 0
  assert sum(float(np.abs(np.asarray(g)).sum()) for g in jax.tree.leaves(grads["model"])) > 0


def test_relative_focus_weights_against_the_sharpest_photo(tiny_scene):
  """defocus.focus_weight_relative: r is replaced by r - r_min, r_min the smallest radius any
  training photo whose frame holds the point gives it (a float64 loop over the photos)."""
  c = defocus_config(tiny_scene)
  c.defocus.init_radius_px = 1.5
  c.defocus.focus_weight_relative = True
  scene = load_scene(c)
  model, _, state = init_state(c, scene)
  data = device_data(scene, scene.train_idx)
  batch = random_pixels(np.random.default_rng(1), scene.images[scene.train_idx], 64)
  key = jax.random.PRNGKey(0)
  loss_fn = make_loss("focus_ray", model, c, image_size=(scene.height, scene.width))
  _, stats = jax.jit(loss_fn)(state.params, key, data, batch)
  rays = rays_for_pixels(data, batch["cam"], batch["px"].astype(np.float32),
                         batch["py"].astype(np.float32))
  out = jax.jit(lambda p, r: model.apply({"params": p}, key, r, train=True))(
      state.params["model"], rays)
  depth = np.asarray(out["depth"], np.float64)
  x = np.asarray(rays.origins, np.float64) + depth[:, None] * np.asarray(rays.directions, np.float64)
  lens = {k: np.asarray(v, np.float64) for k, v in state.params["lens"].items()}
  c2w, intr = np.asarray(data["c2w"], np.float64), np.asarray(data["intrinsics"], np.float64)
  near, far = np.asarray(data["near"], np.float64), np.asarray(data["far"], np.float64)
  inv_s = 1 / far + lens["focus_u"] * (1 / near - 1 / far)
  kappa = np.exp(lens["log_kappa"])
  rel = np.zeros(len(x))
  for b in range(len(x)):
    radii = []
    for n in range(len(c2w)):
      p = c2w[n, :, :3].T @ (x[b] - c2w[n, :, 3])
      u, v = intr[n, 0] * p[0] / -p[2] + intr[n, 2], -intr[n, 1] * p[1] / -p[2] + intr[n, 3]
      if -p[2] > 0 and 0 <= u <= scene.width and 0 <= v <= scene.height:
        radii.append(kappa[n] * abs(-1 / p[2] - inv_s[n]))
    own = batch["cam"][b]
    r_own = kappa[own] * abs(1 / depth[b] - inv_s[own])
    rel[b] = max(r_own - min(radii), 0.0)
  assert np.all(rel >= 0) and np.any(rel > 0)
  w = 1 / (1 + (rel / c.defocus.focus_weight_radius) ** c.defocus.focus_weight_power)
  pred = np.asarray(image_utils.linear_to_srgb(out["rgb"]), np.float64)
  err = np.mean((pred - batch["target"]) ** 2, -1)
  np.testing.assert_allclose(float(stats["mse"]), np.sum(w * err) / np.sum(w), rtol=1e-4)
  np.testing.assert_allclose(float(stats["focus_weight_mean"]), np.mean(w), rtol=1e-4)
