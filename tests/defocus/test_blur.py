"""The defocus blur operator against a direct float64 spatially varying convolution."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from macro_nerf.defocus import blur as defocus


def _kernel(d, r, soft):
  return np.clip((r - d) / soft + 0.5, 0.0, 1.0)


def _direct_blur(color, radius, margin, soft, normalize):
  """Loop over every output pixel and every source pixel of the padded image (no window)."""
  hp, wp, c = color.shape
  h, w = hp - 2 * margin, wp - 2 * margin
  # Each source's normaliser: its kernel summed over all integer offsets (large enough range).
  rr = np.arange(-3 * margin, 3 * margin + 1)
  oy, ox = np.meshgrid(rr, rr, indexing="ij")
  odist = np.sqrt(oy ** 2 + ox ** 2)
  out = np.zeros((h, w, c))
  tot = np.zeros((h, w))
  for y in range(h):
    for x in range(w):
      for qy in range(hp):
        for qx in range(wp):
          d = np.hypot(qy - (y + margin), qx - (x + margin))
          r = radius[qy, qx]
          k = _kernel(d, r, soft)
          if k == 0.0:
            continue
          wgt = k / _kernel(odist, r, soft).sum()
          out[y, x] += wgt * color[qy, qx]
          tot[y, x] += wgt
  if normalize:
    out = out / tot[..., None]
  return out, tot


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("soft", [1.0, 0.5])
def test_blur_matches_direct_convolution(normalize, soft):
  rng = np.random.default_rng(0)
  m, h, w = 3, 6, 7
  color = rng.uniform(0, 1, (h + 2 * m, w + 2 * m, 3))
  radius = rng.uniform(0, defocus.max_radius(m, soft), (h + 2 * m, w + 2 * m))
  ref, ref_tot = _direct_blur(color, radius, m, soft, normalize)
  out, tot = defocus.blur(jnp.asarray(color, jnp.float32), jnp.asarray(radius, jnp.float32), m,
                          soft, normalize)
  np.testing.assert_allclose(np.asarray(out), ref, atol=2e-5)
  np.testing.assert_allclose(np.asarray(tot), ref_tot, atol=2e-5)


def test_batched_and_banded_blur_agree():
  rng = np.random.default_rng(1)
  m = 2
  color = rng.uniform(0, 1, (2, 9 + 2 * m, 5 + 2 * m, 3)).astype(np.float32)
  radius = rng.uniform(0, 1.5, color.shape[:-1]).astype(np.float32)
  batched, _ = defocus.blur(color, radius, m)
  for b in range(2):
    single, _ = defocus.blur(color[b], radius[b], m)
    banded = defocus.blur_image(color[b], radius[b], m, rows=4)
    np.testing.assert_allclose(np.asarray(batched[b]), np.asarray(single), atol=1e-6)
    np.testing.assert_allclose(np.asarray(banded), np.asarray(single), atol=1e-6)


@pytest.mark.parametrize("normalize", [True, False])
def test_radius_zero_is_identity(normalize):
  rng = np.random.default_rng(2)
  m = 4
  color = rng.uniform(0, 1, (8 + 2 * m, 8 + 2 * m, 3)).astype(np.float32)
  out, _ = defocus.blur(color, np.zeros(color.shape[:-1], np.float32), m, normalize=normalize)
  np.testing.assert_allclose(np.asarray(out), color[m:-m, m:-m], atol=1e-6)


def test_constant_image_stays_constant_with_varying_radius():
  rng = np.random.default_rng(3)
  m = 4
  color = np.full((10 + 2 * m, 12 + 2 * m, 3), [0.2, 0.5, 0.9], np.float32)
  radius = rng.uniform(0, defocus.max_radius(m), color.shape[:-1]).astype(np.float32)
  out, _ = defocus.blur(color, radius, m, normalize=True)
  np.testing.assert_allclose(np.asarray(out), color[m:-m, m:-m], atol=1e-5)
  # Without normalisation a constant image stays constant where the radius is constant.
  out, _ = defocus.blur(color, np.full(color.shape[:-1], 2.3, np.float32), m, normalize=False)
  np.testing.assert_allclose(np.asarray(out), color[m:-m, m:-m], atol=1e-5)


def test_energy_is_conserved_away_from_borders():
  rng = np.random.default_rng(4)
  m, h, w = 4, 20, 20
  color = np.zeros((h + 2 * m, w + 2 * m, 3), np.float32)
  # Content only where every disk lands inside the output region.
  inner = (slice(2 * m, h), slice(2 * m, w))
  color[inner] = rng.uniform(0, 1, color[inner].shape)
  radius = rng.uniform(0, defocus.max_radius(m), color.shape[:-1]).astype(np.float32)
  out, _ = defocus.blur(color, radius, m, normalize=False)
  np.testing.assert_allclose(np.asarray(out).sum((0, 1)), color.sum((0, 1)), rtol=1e-5)


def test_coc_radius_is_thin_lens_formula():
  rng = np.random.default_rng(5)
  z = rng.uniform(0.5, 10.0, 100)
  s = rng.uniform(0.5, 10.0, 100)
  kappa = rng.uniform(1.0, 100.0, 100)
  # kappa = A f s / (2 (s - f)) / pitch: radius of the blur disk on the sensor, in pixels.
  f, pitch = 0.1, 1e-3
  aperture = 2.0 * kappa * pitch * (s - f) / (f * s)
  v_s, v_z = f * s / (s - f), f * z / (z - f)  # image distances (lens equation)
  ref = 0.5 * aperture * np.abs(v_s - v_z) / v_z / pitch  # similar triangles behind the lens
  out = defocus.coc_radius(jnp.asarray(1.0 / z), jnp.asarray(kappa), jnp.asarray(1.0 / s))
  np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4)


def test_gradients_reach_radius_and_colour():
  rng = np.random.default_rng(6)
  m = 3
  color = jnp.asarray(rng.uniform(0, 1, (2, 5 + 2 * m, 5 + 2 * m, 3)), jnp.float32)
  radius = jnp.asarray(rng.uniform(0.3, 2.0, color.shape[:-1]), jnp.float32)
  target = jnp.asarray(rng.uniform(0, 1, (2, 5, 5, 3)), jnp.float32)

  def loss(c, r):
    out, _ = defocus.blur(c, r, m)
    return jnp.mean((out - target) ** 2)

  gc, gr = jax.grad(loss, argnums=(0, 1))(color, radius)
  assert np.all(np.isfinite(gc)) and np.all(np.isfinite(gr))
  assert np.abs(np.asarray(gr)).sum() > 0 and np.abs(np.asarray(gc)).sum() > 0
