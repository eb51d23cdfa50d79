"""The model: proposal sampling along rays, then the radiance field, then compositing.

Samples live in a normalised ray coordinate s in [0, 1] (linear in disparity for forward-facing
captures, linear in depth for objects); points are mapped to the hash grid's [0, 1]^3 by warp.py
(from the normalised scene box, or through the mean camera's NDC).
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from macro_nerf.nerf import compositing, stepfun, warp as warp_lib
from macro_nerf.nerf.field import DensityField, RadianceField


def s_to_t(s, near, far, disparity: bool):
  """Normalised ray coordinate s (..., k) in [0, 1] -> z-depth, linear in 1/z or in z; near, far
  (..., 1)."""
  if disparity:
    return 1.0 / (1.0 / near + s * (1.0 / far - 1.0 / near))
  return near + s * (far - near)


class Model(nn.Module):
  """Proposal levels then one radiance field level.

  Call: key, rays (`camera.Rays`, batch shape B), train -> {"rgb": B + (3,) linear, "depth": B
  z-depth, "acc": B opacity, "levels": [(s (B + (k+1,)), w (B + (k,))) per level, final last]}.
  """
  prop_samples: Sequence[int] = (64,)
  nerf_samples: int = 32
  disparity: bool = True
  prop_log2_table_size: int = 15
  prop_max_resolution: int = 256
  num_levels: int = 16
  features: int = 2
  log2_table_size: int = 17
  max_resolution: int = 2048
  width: int = 64
  background: Sequence[float] = (0.0, 0.0, 0.0)
  view_dependent: bool = True
  # Training composites over a random colour per ray: a ray that stays partly transparent then
  # costs loss, so the field cannot pass for the photo as brightened fog over a black background
  # (which wrecks depth, meshes and the blur radii that depth drives).
  random_background: bool = True
  warp: tuple = ()  # where the hash grid lies (warp.py): () the scene box, ("ndc", ...) NDC

  def setup(self):
    self.prop_fields = [
        DensityField(log2_table_size=self.prop_log2_table_size,
                     max_resolution=self.prop_max_resolution) for _ in self.prop_samples]
    self.field = RadianceField(num_levels=self.num_levels, features=self.features,
                               log2_table_size=self.log2_table_size,
                               max_resolution=self.max_resolution, width=self.width,
                               view_dependent=self.view_dependent)

  def __call__(self, key, rays, train: bool):
    batch = rays.origins.shape[:-1]
    dir_norm = jnp.linalg.norm(rays.directions, axis=-1, keepdims=True)
    s_env = jnp.broadcast_to(jnp.array([0.0, 1.0]), batch + (2,))
    w_env = jnp.ones(batch + (1,))
    levels = []
    counts = tuple(self.prop_samples) + (self.nerf_samples,)
    for level, n in enumerate(counts):
      key, sub = jax.random.split(key)
      s = stepfun.sample_edges(sub if train else None, s_env, w_env, n + 1)
      t = s_to_t(s, rays.near, rays.far, self.disparity)
      tmid = 0.5 * (t[..., 1:] + t[..., :-1])
      x = warp_lib.to_grid(
          rays.origins[..., None, :] + tmid[..., None] * rays.directions[..., None, :], self.warp)
      if level < len(self.prop_samples):
        density = self.prop_fields[level](x)
        w = compositing.compositing_weights(density, t, dir_norm)
        levels.append((s, w))
        s_env, w_env = s, jax.lax.stop_gradient(w)
      else:
        vd = jnp.broadcast_to(rays.viewdirs[..., None, :], x.shape)
        density, rgb = self.field(x, vd)
        w = compositing.compositing_weights(density, t, dir_norm)
        levels.append((s, w))
        bg = jnp.asarray(self.background, rgb.dtype)
        if train and self.random_background:
          key, sub = jax.random.split(key)
          bg = jax.random.uniform(sub, batch + (3,), rgb.dtype)
        color, depth, acc = compositing.composite(w, rgb, t, bg)
    return {"rgb": color, "depth": depth, "acc": acc, "levels": levels}


  def query(self, x, viewdirs):
    """Density (...) and linear RGB (..., 3) of the final field at normalised scene points x
    (..., 3), seen along viewdirs (..., 3)."""
    return self.field(warp_lib.to_grid(x, self.warp), viewdirs)


def model_from_config(config, scene=None) -> Model:
  """The Model of config.model; model.warp "ndc" needs the scene (its cameras place the grid)."""
  m = config.model
  warp = warp_lib.warp_for_scene(m.get("warp", "box"), scene, m.get("ndc_fit_views", False))
  return Model(prop_samples=tuple(m.prop_samples), nerf_samples=m.nerf_samples,
               disparity=m.disparity, prop_log2_table_size=m.prop_log2_table_size,
               prop_max_resolution=m.prop_max_resolution, num_levels=m.num_levels,
               features=m.get("features", 2),
               log2_table_size=m.log2_table_size, max_resolution=m.max_resolution, width=m.width,
               background=tuple(m.background), view_dependent=m.get("view_dependent", True),
               random_background=m.get("random_background", True), warp=warp)


def proposal_losses(levels):
  """Interlevel loss of every proposal level against the stopped final weights, and distortion.

  Args:
    levels: the model's [(s, w)] per level, the final level last.
  Returns:
    interlevel, distortion: scalar means over rays.
  """
  s, w = levels[-1]
  s, w_sg = jax.lax.stop_gradient(s), jax.lax.stop_gradient(w)
  inter = sum(jnp.mean(stepfun.interlevel_loss(s, w_sg, s_p, w_p)) for s_p, w_p in levels[:-1])
  dist = jnp.mean(stepfun.distortion_loss(s, w))
  return inter, dist


def model_params(params):
  """The radiance model's own parameters out of a training state's: runs with a lens or
  appearance codes hold {"model", "lens", "residual", "appearance"} (those they learn), plain
  runs the model's tree alone."""
  return params["model"] if "model" in params else params
