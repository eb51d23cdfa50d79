"""The learned residual of the blur radius: what a perfect thin-lens disk misses."""
import flax.linen as nn
import jax.numpy as jnp


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


def residual_from_config(config, num_train_views):
  d = config.defocus
  return ResidualRadius(num_views=num_train_views, embed_dim=d.residual_embed,
                        width=d.residual_width)


def init_residual(residual, key):
  """The residual network's initial parameters (its output layer is zero)."""
  return residual.init(key, jnp.zeros((1,), jnp.int32), jnp.zeros((1, 2)),
                       jnp.zeros((1,)))["params"]
