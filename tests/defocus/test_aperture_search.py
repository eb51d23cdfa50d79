"""The aperture search at the switch-on: it finds the blur a photo was taken with."""
import jax.numpy as jnp
import numpy as np

from helpers import defocus_config
from macro_nerf.data.scene import load_scene
from macro_nerf.defocus import aperture_search, blur, lens
from macro_nerf.image_utils import linear_to_srgb
from macro_nerf.training.loop import train


def test_scale_errors_are_least_at_the_true_aperture():
  rng = np.random.default_rng(0)
  views, k, p, m = 3, 3, 16, 6
  s = p + 2 * m
  sharp = rng.uniform(0.05, 0.9, (views, k, s, s, 3)).astype(np.float32)
  inv_depth = rng.uniform(0.5, 1.0, (views, k, s, s)).astype(np.float32)
  inv_focus = np.array([0.6, 0.9, 0.7], np.float32)
  kappa = np.array([16.0, 12.0, 60.0], np.float32)  # every scale blurs by more than 0.5 px
  true = [0.25, 1.0, 0.0625]
  target = []
  for v in range(views):
    r = np.clip(true[v] * kappa[v] * np.abs(inv_depth[v] - inv_focus[v]), 0, blur.max_radius(m))
    target.append(np.asarray(linear_to_srgb(blur.blur(jnp.asarray(sharp[v]), jnp.asarray(r), m)[0])))
  errs = aperture_search.scale_errors(jnp.asarray(sharp), jnp.asarray(inv_depth),
                                      jnp.asarray(np.stack(target)), jnp.asarray(inv_focus),
                                      jnp.asarray(kappa), m)
  assert errs.shape == (views, len(aperture_search.SCALES))
  np.testing.assert_array_equal(np.asarray(aperture_search.SCALES)[errs.argmin(-1)], true)
  assert np.all(errs.min(-1) < 1e-10)


def test_patch_corners_spread_over_the_image_inside_it():
  for h, w, p in [(378, 504, 32), (150, 200, 32), (60, 80, 32), (32, 32, 32)]:
    x0, y0 = aperture_search.patch_corners(h, w, p)
    assert x0.size == y0.size == aperture_search.PATCHES_PER_VIEW
    assert np.all((x0 >= 0) & (x0 + p <= w) & (y0 >= 0) & (y0 + p <= h))
  x0, y0 = aperture_search.patch_corners(378, 504, 32)
  assert len(set(x0)) == 2 and len(set(y0)) == 2  # a 2 x 2 grid


def test_training_searches_the_aperture_at_the_switch_on(tiny_scene, tmp_path, capsys):
  c = defocus_config(tiny_scene)
  c.defocus.aperture_search = True
  c.train.max_steps = 2  # step 1 warms up, step 2 starts the lens (and searches)
  _, _, state, _ = train(c, str(tmp_path / "wd"), progress=False)
  assert "aperture search: kappa x" in capsys.readouterr().out
  scene = load_scene(c)
  log_k0 = np.log(np.asarray(lens.kappa(lens.lens_for_views(c, scene, scene.train_idx))))
  log_k = np.asarray(state.params["lens"]["log_kappa"])
  assert np.all(np.isfinite(log_k))
  # Each photo's kappa is its initial one times one of SCALES (then one Adam step of the lens).
  steps = np.exp(log_k - log_k0)[:, None] / np.asarray(aperture_search.SCALES)[None]
  assert np.all(np.min(np.abs(np.log(steps)), -1) < 0.05)

