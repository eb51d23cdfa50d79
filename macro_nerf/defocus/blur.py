"""Thin-lens defocus: circle-of-confusion radius and the scatter-form blur of a sharp render.

A point at z-depth z seen by photo i blurs into a disk of radius r = kappa_i * |1/z - 1/s_i| pixels.
The blur of a rendered patch is a weighted sum of sharp neighbours in which every source pixel q
spreads its colour over its own disk (radius r_q), normalised over that disk. That is how a real
lens lets a blurred foreground spill over a sharp background, and it costs one render per pixel.

Pure functions; they run under jit on batches of patches and on whole images alike.
"""
import functools

import numpy as np
import jax.numpy as jnp


def coc_radius(inv_depth, kappa, inv_focus):
  """Thin-lens circle-of-confusion radius in pixels: kappa * |1/z - 1/s|.

  Args:
    inv_depth: (...) 1/z; kappa, inv_focus: broadcastable to it (pixels x depth units, 1/s).
  Returns:
    (...) radius in pixels.
  """
  return kappa * jnp.abs(inv_depth - inv_focus)


def disk_kernel(dist, radius, softness=1.0, xnp=jnp):
  """Soft-edged disk: 1 inside the radius, a linear ramp `softness` pixels wide across the edge.

  At radius 0 only the centre pixel has weight (the blur is the identity); the ramp keeps the
  weights differentiable in the radius.

  Args:
    dist: (...) distance of a neighbour in pixels; radius: broadcastable to it.
  Returns:
    (...) weight in [0, 1].
  """
  return xnp.clip((radius - dist) / softness + 0.5, 0.0, 1.0)


def max_radius(margin, softness=1.0):
  """Largest radius whose disk (edge ramp included) fits in a window of half-width `margin`."""
  return margin - 0.5 * softness


@functools.lru_cache(maxsize=None)
def window_offsets(margin):
  """Integer offsets (dy, dx) with |o| <= margin: the support of every admissible disk.

  Returns:
    (K, 2) int32.
  """
  r = np.arange(-margin, margin + 1)
  dy, dx = np.meshgrid(r, r, indexing="ij")
  keep = dy ** 2 + dx ** 2 <= margin ** 2
  return np.stack([dy[keep], dx[keep]], -1).astype(np.int32)


@functools.lru_cache(maxsize=None)
def _gather_index(out_h, out_w, margin):
  """Flat index into the padded (out_h + 2m, out_w + 2m) image of pixel p + o, for every p and o."""
  off = window_offsets(margin)
  wp = out_w + 2 * margin
  py, px = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
  y = py.reshape(-1, 1) + margin + off[None, :, 0]
  x = px.reshape(-1, 1) + margin + off[None, :, 1]
  return (y * wp + x).astype(np.int32)


def blur(color, radius, margin, softness=1.0, normalize=True):
  """Scatter-form defocus blur of a sharp image with a per-pixel radius.

  Args:
    color: (..., H + 2m, W + 2m, C) sharp colour in linear light.
    radius: (..., H + 2m, W + 2m) radius of every source pixel, at most max_radius(margin).
    margin: m, the half-width of the window.
    softness: width of the disk's edge ramp in pixels.
    normalize: divide each output pixel by the total weight it receives, which keeps flat regions
      flat where the radius changes; False keeps the plain scatter sum (conserves energy).
  Returns:
    (..., H, W, C) blurred colour and (..., H, W) total received weight.
  """
  hp, wp, c = color.shape[-3:]
  h, w = hp - 2 * margin, wp - 2 * margin
  off = window_offsets(margin)
  dist = jnp.asarray(np.sqrt((off.astype(np.float64) ** 2).sum(-1)), color.dtype)  # (K,)
  batch = color.shape[:-3]
  color = color.reshape(batch + (hp * wp, c))
  radius = radius.reshape(batch + (hp * wp,))
  # Every source pixel's own disk sums to one over the window.
  norm = jnp.sum(disk_kernel(dist, radius[..., None], softness), -1)
  idx = jnp.asarray(_gather_index(h, w, margin))  # (H*W, K)
  r_src = jnp.take(radius, idx, axis=-1)  # (..., H*W, K)
  n_src = jnp.take(norm, idx, axis=-1)
  c_src = jnp.take(color, idx, axis=-2)  # (..., H*W, K, C)
  wgt = disk_kernel(dist, r_src, softness) / n_src
  total = jnp.sum(wgt, -1)
  out = jnp.sum(wgt[..., None] * c_src, -2)
  if normalize:
    out = out / jnp.maximum(total, 1e-8)[..., None]
  return out.reshape(batch + (h, w, c)), total.reshape(batch + (h, w))


def blur_image(color, radius, margin, softness=1.0, normalize=True, rows=32):
  """blur() of a whole image in bands of output rows, to bound memory (inference only).

  Args:
    color: (H + 2m, W + 2m, C); radius: (H + 2m, W + 2m).
  Returns:
    (H, W, C).
  """
  h = color.shape[0] - 2 * margin
  out = []
  for y in range(0, h, rows):
    n = min(rows, h - y)
    band, _ = blur(color[y:y + n + 2 * margin], radius[y:y + n + 2 * margin], margin, softness,
                   normalize)
    out.append(band)
  return jnp.concatenate(out, 0)


def refocus(sharp_rgb, depth, focus, kappa, margin, softness=1.0, normalize=True):
  """The thin-lens photo of a sharp render focused at `focus`, in linear light.

  Args:
    sharp_rgb: (H + 2m, W + 2m, 3) sharp render with a margin of m = `margin` pixels.
    depth: (H + 2m, W + 2m) its z-depth, in the units of `focus` (kappa in pixels x those units).
  Returns:
    (H, W, 3) numpy; radii beyond the margin are clipped.
  """
  r = coc_radius(1.0 / depth, kappa, 1.0 / focus)
  r = np.clip(r, 0.0, max_radius(margin, softness))
  out = blur_image(jnp.asarray(sharp_rgb, jnp.float32), jnp.asarray(r, jnp.float32), margin,
                   softness, normalize)
  return np.asarray(out)
