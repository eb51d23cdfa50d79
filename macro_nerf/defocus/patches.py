"""Patches for the defocus step: which pixels a step renders and which it supervises.

A patch of P x P observed pixels is rendered with a margin of m pixels on every side, since the
blur of an observed pixel gathers sharp neighbours up to the largest radius away.
"""
import jax.numpy as jnp
import numpy as np


def patch_layout(patch, margin):
  """Flat indices of the interior and of the margin inside a (P + 2m)^2 region, and the inverse
  permutation that puts [interior, margin] back in raster order."""
  side = patch + 2 * margin
  inside = np.zeros((side, side), bool)
  inside[margin:margin + patch, margin:margin + patch] = True
  inner = np.flatnonzero(inside.reshape(-1))
  outer = np.flatnonzero(~inside.reshape(-1))
  inv = np.argsort(np.concatenate([inner, outer]))
  return inner, outer, inv


def random_patches(rng, images, num, patch):
  """Random P x P patches of images (N, H, W, 3) (host side): view, top-left corner, colours."""
  n, h, w = images.shape[:3]
  cam = rng.integers(0, n, num)
  x0 = rng.integers(0, w - patch + 1, num)
  y0 = rng.integers(0, h - patch + 1, num)
  g = np.arange(patch)
  target = images[cam[:, None, None], y0[:, None, None] + g[None, :, None],
                  x0[:, None, None] + g[None, None, :]]
  return {"cam": cam.astype(np.int32), "x0": x0.astype(np.int32), "y0": y0.astype(np.int32),
          "target": target}


def patch_regions(x0, y0, patch, margin):
  """Pixel coordinates (num, S, S), S = P + 2m, of each patch plus its margin (margins may reach
  outside the image: rays extend beyond it)."""
  g = jnp.arange(-margin, patch + margin)
  num = x0.shape[0]
  px = jnp.broadcast_to(x0[:, None, None] + g[None, None, :], (num, g.size, g.size))
  py = jnp.broadcast_to(y0[:, None, None] + g[None, :, None], (num, g.size, g.size))
  return px, py


def patches_per_device(config):
  return max(config.train.batch_size // config.defocus.patch_size ** 2, 1)
