"""Per-photo thin-lens parameters and the learned residual of the blur radius.

Lens parameters live in the normalised scene (depths scaled by scene.scale). Focus is stored as a
position u in the view's disparity range, 1/s = 1/far + u (1/near - 1/far), and the aperture as
log kappa, so that Adam's steps mean the same in every scene.
"""
import flax.linen as nn
import jax.numpy as jnp
import numpy as np


def initial_lens(near, far, init_radius_px):
  """Focus mid-way in disparity; kappa so the CoC at the range's ends is init_radius_px pixels."""
  near, far = np.asarray(near, np.float64), np.asarray(far, np.float64)
  half_range = 0.5 * (1.0 / near - 1.0 / far)
  return {"focus_u": jnp.asarray(np.full(near.shape, 0.5), jnp.float32),
          "log_kappa": jnp.asarray(np.log(init_radius_px / half_range), jnp.float32)}


def inv_focus(lens, near, far):
  return 1.0 / far + lens["focus_u"] * (1.0 / near - 1.0 / far)


def kappa(lens):
  return jnp.exp(lens["log_kappa"])


def focus_u_from_depth(depth, near, far):
  """The u that puts the focus at z-depth `depth` (all normalised)."""
  return (1.0 / depth - 1.0 / far) / (1.0 / near - 1.0 / far)


def lens_in_world(lens, near, far, scale):
  """Focus distance in world units and kappa in pixels x world units (r = kappa |1/z - 1/s|)."""
  s = 1.0 / np.asarray(inv_focus(lens, near, far), np.float64)
  return s / scale, np.asarray(kappa(lens), np.float64) / scale


class ResidualRadius(nn.Module):
  """A small MLP of (view embedding, pixel position, disparity) -> radius correction in pixels.

  The output layer starts at zero, so training starts from the pure thin-lens disk; it absorbs
  what a disk misses (aberrations, vignetting) and is kept small by an L2 penalty.
  """
  num_views: int
  embed_dim: int = 4
  width: int = 32

  @nn.compact
  def __call__(self, cam, pos, disp):
    emb = nn.Embed(self.num_views, self.embed_dim, name="view_embedding")(cam)
    x = jnp.concatenate([emb, pos, disp[..., None]], -1)
    x = nn.relu(nn.Dense(self.width, name="hidden_0")(x))
    x = nn.relu(nn.Dense(self.width, name="hidden_1")(x))
    out = nn.Dense(1, kernel_init=nn.initializers.zeros, name="out")(x)
    return out[..., 0]
