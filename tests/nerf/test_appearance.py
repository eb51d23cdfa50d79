"""Per-photo affine colour codes against a float64 loop."""
import jax
import jax.numpy as jnp
import numpy as np

from macro_nerf.nerf import appearance


def test_codes_apply_as_centred_affine_maps():
  rng = np.random.default_rng(0)
  codes = rng.normal(0, 0.1, (4, 3, 4))
  cam = np.array([0, 3, 3, 1, 2])
  rgb = rng.uniform(0, 1, (5, 3))
  got = np.asarray(appearance.apply(jnp.asarray(codes, jnp.float32), jnp.asarray(cam),
                                    jnp.asarray(rgb, jnp.float32)))
  mean = codes.mean(0)
  for k, (i, c) in enumerate(zip(cam, rgb)):
    a = codes[i] - mean
    np.testing.assert_allclose(got[k], (np.eye(3) + a[:, :3]) @ c + a[:, 3], atol=1e-5)


def test_zero_codes_are_the_identity_and_patches_broadcast():
  rgb = jnp.asarray(np.random.default_rng(1).uniform(0, 1, (2, 4, 4, 3)), jnp.float32)
  codes = appearance.init_codes(3)
  out = appearance.apply(codes, jnp.array([2, 0])[:, None, None], rgb)
  np.testing.assert_allclose(np.asarray(out), np.asarray(rgb))
  assert appearance.as_photographed({"model": {}}, jnp.array([0, 1]), rgb) is rgb


def test_gradient_reaches_the_codes_and_the_mean_code_does_nothing():
  rgb = jnp.full((3, 3), 0.5)
  cam = jnp.array([0, 1, 1])

  def loss(codes):
    return jnp.sum((appearance.apply(codes, cam, rgb) - 0.6) ** 2)

  g = jax.grad(loss)(appearance.init_codes(2) + 0.01)
  assert np.all(np.isfinite(np.asarray(g))) and np.abs(np.asarray(g)).max() > 0
  shifted = appearance.init_codes(2) + 0.3  # the same code on every photo: centred away
  np.testing.assert_allclose(np.asarray(appearance.apply(shifted, cam, rgb)), 0.5, atol=1e-6)
