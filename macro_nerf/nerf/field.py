"""The radiance field and the proposal density fields (small MLPs over hash encodings)."""
import flax.linen as nn
import jax
import jax.numpy as jnp

from macro_nerf.nerf.hash_encoding import HashEncoding


@jax.custom_jvp
def trunc_exp(x):
  """exp with its gradient clamped, so large pre-activations don't explode early in training."""
  return jnp.exp(x)


@trunc_exp.defjvp
def _trunc_exp_jvp(primals, tangents):
  (x,), (g,) = primals, tangents
  return jnp.exp(x), g * jnp.exp(jnp.clip(x, -15.0, 15.0))


def spherical_harmonics(d):
  """Real SH basis up to degree 3 of unit directions, as in Instant-NGP: (..., 3) -> (..., 16)."""
  x, y, z = d[..., 0], d[..., 1], d[..., 2]
  xx, yy, zz = x * x, y * y, z * z
  xy, yz, xz = x * y, y * z, x * z
  return jnp.stack([
      0.28209479177387814 * jnp.ones_like(x),
      -0.48860251190291987 * y,
      0.48860251190291987 * z,
      -0.48860251190291987 * x,
      1.0925484305920792 * xy,
      -1.0925484305920792 * yz,
      0.94617469575755997 * zz - 0.31539156525251999,
      -1.0925484305920792 * xz,
      0.54627421529603959 * (xx - yy),
      0.59004358992664352 * y * (-3.0 * xx + yy),
      2.8906114426405538 * xy * z,
      0.45704579946446572 * y * (1.0 - 5.0 * zz),
      0.3731763325901154 * z * (5.0 * zz - 3.0),
      0.45704579946446572 * x * (1.0 - 5.0 * zz),
      1.4453057213202769 * z * (xx - yy),
      0.59004358992664352 * x * (-xx + 3.0 * yy),
  ], axis=-1)


def mlp(x, width, depth, out, name):
  """`depth` ReLU layers of `width`, then a linear layer: (..., D) -> (..., out)."""
  for i in range(depth):
    x = nn.relu(nn.Dense(width, name=f"{name}_{i}")(x))
  return nn.Dense(out, name=f"{name}_out")(x)


class DensityField(nn.Module):
  """Proposal network: a small hash grid and MLP that only predicts density.

  Call: x (..., 3) in [0, 1]^3 -> density (...).
  """
  num_levels: int = 5
  log2_table_size: int = 15
  max_resolution: int = 256
  width: int = 16

  @nn.compact
  def __call__(self, x):
    feats = HashEncoding(num_levels=self.num_levels, features=2, log2_table_size=self.log2_table_size,
                         base_resolution=16, max_resolution=self.max_resolution)(x)
    raw = mlp(feats, self.width, 1, 1, "density")[..., 0]
    return trunc_exp(raw - 1.0)


class RadianceField(nn.Module):
  """Density from the hash grid; linear RGB from geometry features and SH of the view direction.

  Call: x (..., 3) in [0, 1]^3, viewdirs (..., 3) unit -> density (...), rgb (..., 3) linear.
  """
  num_levels: int = 16
  features: int = 2
  log2_table_size: int = 17
  base_resolution: int = 16
  max_resolution: int = 2048
  geo_features: int = 15
  width: int = 64
  view_dependent: bool = True  # False: diffuse colour, so per-view blur cannot hide in it

  @nn.compact
  def __call__(self, x, viewdirs):
    feats = HashEncoding(num_levels=self.num_levels, features=self.features,
                         log2_table_size=self.log2_table_size, base_resolution=self.base_resolution,
                         max_resolution=self.max_resolution)(x)
    h = mlp(feats, self.width, 1, 1 + self.geo_features, "density")
    density = trunc_exp(h[..., 0] - 1.0)
    sh = spherical_harmonics(viewdirs)
    if not self.view_dependent:
      sh = jnp.zeros_like(sh)  # same parameters either way: checkpoints stay interchangeable
    rgb = nn.sigmoid(mlp(jnp.concatenate([h[..., 1:], sh], -1), self.width, 2, 3, "color"))
    return density, rgb
