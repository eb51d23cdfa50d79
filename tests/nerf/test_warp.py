"""The hash grid's placement: the scene box, or the NDC of the capture's mean camera."""
import types

import jax.numpy as jnp
import numpy as np
import pytest

from macro_nerf.nerf import camera, warp


def _look(yaw):
  """An OpenGL c2w (3, 4) at the origin turned by yaw radians about y."""
  c, s = np.cos(yaw), np.sin(yaw)
  return np.array([[c, 0, s, 0.0], [0, 1, 0, 0.0], [-s, 0, c, 0.0]])


def test_mean_camera_of_symmetric_views_is_the_middle_one():
  c2w = np.stack([_look(-0.2), _look(0.0), _look(0.2)])
  c2w[:, :, 3] = [[-1, 0, 0], [0, 0, 0], [1, 0, 0]]
  np.testing.assert_allclose(camera.mean_camera(c2w), _look(0.0), atol=1e-12)


def test_ndc_matches_the_float64_projection():
  rng = np.random.default_rng(0)
  ref = _look(0.3)
  ref[:, 3] = [0.2, -0.1, 0.5]
  ax, ay, near, margin = 1.7, 2.1, 0.4, 0.3
  constants = tuple(ref.reshape(-1)) + (ax, ay, near, margin)
  x = rng.uniform(-3, 3, (50, 3))
  got = np.asarray(warp.ndc_to_grid(jnp.asarray(x, jnp.float32), constants))
  want = []
  for p in x:
    cam = ref[:, :3].T @ (p - ref[:, 3])
    z = max(-cam[2], 1e-3 * near)
    u, v = ax * cam[0] / z / (1 + margin), ay * cam[1] / z / (1 + margin)
    want.append([(u + 1) / 2, (v + 1) / 2, (2 - 2 * near / z) / 2])
  np.testing.assert_allclose(got, np.array(want), rtol=1e-4, atol=1e-5)


def test_ndc_puts_a_ray_of_the_mean_view_on_one_grid_column_and_near_far_at_the_ends():
  ref = _look(0.0)
  constants = tuple(ref.reshape(-1)) + (1.0, 1.0, 0.5, 0.0)
  depth = np.array([0.5, 1.0, 10.0, 1e6])
  x = np.stack([0.25 * depth, -0.1 * depth, -depth], -1)  # one pixel's ray, growing depth
  g = np.asarray(warp.ndc_to_grid(jnp.asarray(x, jnp.float32), constants))
  np.testing.assert_allclose(g[:, 0], 0.625, atol=1e-6)
  np.testing.assert_allclose(g[:, 1], 0.45, atol=1e-6)
  np.testing.assert_allclose(g[[0, -1], 2], [0.0, 1.0], atol=1e-5)
  assert np.all(np.diff(g[:, 2]) > 0)


def test_box_is_the_default_and_unknown_warps_are_refused():
  x = jnp.array([[-1.0, 0.0, 1.0]])
  np.testing.assert_allclose(warp.to_grid(x, ()), [[0.0, 0.5, 1.0]])
  assert warp.warp_for_scene("box", None) == ()
  with pytest.raises(ValueError, match="model.warp='sphere'"):
    warp.warp_for_scene("sphere", None)


def test_ndc_refuses_captures_all_around_an_object():
  c2w = np.stack([_look(a) for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)])
  intr = np.tile([50.0, 50.0, 16.0, 12.0], (8, 1))
  with pytest.raises(ValueError, match="forward-facing capture"):
    warp.ndc_constants(c2w, intr, 24, 32, np.ones(8))


def test_fitted_ndc_holds_every_views_frustum():
  """ndc_constants(..., far=...): the corners of every view's frustum slab land inside the grid,
  where the fixed 30 % margin clips the side views of a capture spread this wide."""
  c2w = np.stack([_look(a) for a in (-0.5, -0.25, 0.0, 0.25, 0.5)])
  c2w[:, 0, 3] = np.linspace(-1.0, 1.0, 5)
  intr = np.tile([40.0, 40.0, 16.0, 12.0], (5, 1))
  near, far = np.full(5, 1.0), np.full(5, 4.0)
  corners = camera.frustum_corners(c2w, intr, 24, 32, near, far).reshape(-1, 3)
  fitted = warp.ndc_constants(c2w, intr, 24, 32, near, far=far)
  g = np.asarray(warp.ndc_to_grid(jnp.asarray(corners, jnp.float32), fitted))
  assert g.min() >= -1e-6 and g.max() <= 1.0 + 1e-6
  assert np.max(np.abs(g[:, :2] - 0.5)) > 0.499  # and fills it
  fixed = warp.ndc_constants(c2w, intr, 24, 32, near)
  g = np.asarray(warp.ndc_to_grid(jnp.asarray(corners, jnp.float32), fixed))
  assert g[:, :2].min() < 0.0 or g[:, :2].max() > 1.0


def test_fitted_ndc_ignores_the_held_out_views():
  """warp_for_scene(fit_views=True) sizes the grid on the training views: a held-out view wider
  than all of them does not coarsen the grid."""
  c2w = np.stack([_look(a) for a in (-0.8, -0.25, 0.0, 0.25)]).astype(np.float32)
  c2w[:, 0, 3] = np.array([-1.5, -0.5, 0.0, 0.5])
  intr = np.tile([40.0, 40.0, 16.0, 12.0], (4, 1)).astype(np.float32)
  near, far = np.full(4, 1.0, np.float32), np.full(4, 4.0, np.float32)
  train = np.array([1, 2, 3])
  scene = types.SimpleNamespace(c2w=c2w, intrinsics=intr, height=24, width=32, near=near,
                                far=far, train_idx=train)
  got = warp.warp_for_scene("ndc", scene, fit_views=True)[1:]
  want = warp.ndc_constants(c2w[train], intr[train], 24, 32, near[train], far=far[train])
  every = warp.ndc_constants(c2w, intr, 24, 32, near, far=far)
  np.testing.assert_allclose(got, want)
  assert got[12] > 1.2 * every[12]  # finer across than a grid that also holds view 0
