"""Cameras and rays. Internally every c2w is OpenGL (columns: right, up, back, centre).

Ray directions are scaled so that their component along the camera's viewing axis is 1: the ray
parameter t is then the z-depth, which the thin-lens model needs, and compositing t gives z-depth.
Functions take `xnp` so that they run in numpy (data prep, tests) and jnp (jit) alike.
"""
import flax.struct
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class Rays:
  origins: jnp.ndarray  # (..., 3)
  directions: jnp.ndarray  # (..., 3), unit z-component in the camera frame
  viewdirs: jnp.ndarray  # (..., 3), unit length
  near: jnp.ndarray  # (..., 1), z-depth
  far: jnp.ndarray  # (..., 1)
  cam_idx: jnp.ndarray  # (..., 1) int32


def llff_to_opengl(c2w_llff):
  """LLFF columns [down, right, back] -> OpenGL [right, up, back]; (..., 3, 4) float64."""
  c2w = np.array(c2w_llff, dtype=np.float64)
  return np.concatenate([c2w[..., 1:2], -c2w[..., 0:1], c2w[..., 2:3], c2w[..., 3:4]], axis=-1)


def opengl_to_llff(c2w_gl):
  """OpenGL columns [right, up, back] -> LLFF [down, right, back]; (..., 3, 4) float64."""
  c2w = np.array(c2w_gl, dtype=np.float64)
  return np.concatenate([-c2w[..., 1:2], c2w[..., 0:1], c2w[..., 2:3], c2w[..., 3:4]], axis=-1)


def pixel_directions(px, py, c2w, intrinsics, xnp=np):
  """World-space ray directions for pixel coordinates (px, py) (pixel centres at +0.5).

  Args:
    px, py: (...) pixel coordinates.
    c2w: (..., 3, 4) or (3, 4) OpenGL camera-to-world.
    intrinsics: (fx, fy, cx, cy), each broadcastable to px.
  Returns:
    (..., 3) directions whose component along the viewing axis (-z in OpenGL) is 1.
  """
  fx, fy, cx, cy = intrinsics
  cam = xnp.stack([(px - cx) / fx, -(py - cy) / fy, -xnp.ones_like(px)], axis=-1)
  return xnp.sum(cam[..., None, :] * c2w[..., :3, :3], axis=-1)


def image_rays(c2w, intrinsics, height, width, xnp=np):
  """Origins and directions (H, W, 3) for every pixel centre of one camera (c2w (3, 4))."""
  py, px = xnp.meshgrid(xnp.arange(height, dtype=xnp.float32) + 0.5,
                        xnp.arange(width, dtype=xnp.float32) + 0.5, indexing="ij")
  d = pixel_directions(px, py, c2w[None, None], intrinsics, xnp)
  o = xnp.broadcast_to(c2w[:3, 3], d.shape)
  return o, d


def project(points, c2w, intrinsics, xnp=np):
  """World points (..., 3) -> pixel coordinates (..., 2) and z-depth (...); c2w (3, 4)."""
  fx, fy, cx, cy = intrinsics
  rel = points - c2w[:3, 3]
  cam = xnp.sum(rel[..., :, None] * c2w[:3, :3], axis=-2)  # R^T (p - c)
  z = -cam[..., 2]
  u = fx * cam[..., 0] / z + cx
  v = -fy * cam[..., 1] / z + cy
  return xnp.stack([u, v], axis=-1), z


def make_rays(origins, directions, near, far, cam_idx, xnp=jnp):
  """Rays from origins, directions (..., 3), near, far (..., 1) and cam_idx (..., 1)."""
  viewdirs = directions / xnp.linalg.norm(directions, axis=-1, keepdims=True)
  return Rays(origins=origins, directions=directions, viewdirs=viewdirs, near=near, far=far,
              cam_idx=cam_idx)


def mean_camera(c2w):
  """The capture's mean camera (3, 4), OpenGL: mean centre, mean viewing axis, mean up, from
  c2w (N, 3, 4)."""
  c2w = np.asarray(c2w, np.float64)
  back = c2w[:, :, 2].sum(0)
  back /= np.linalg.norm(back)
  right = np.cross(c2w[:, :, 1].sum(0), back)
  right /= np.linalg.norm(right)
  return np.stack([right, np.cross(back, right), back, c2w[:, :, 3].mean(0)], 1)


def bounds_from_cameras(c2w):
  """Near/far z-depths for captures without bounds: around the point the cameras look at.

  Args:
    c2w: (N, 3, 4) OpenGL.
  Returns:
    near, far: (N,).
  """
  centres, axes = c2w[:, :, 3], -c2w[:, :, 2]
  # Least-squares point closest to all optical axes.
  m = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]
  target = np.linalg.lstsq(m.sum(0), (m @ centres[:, :, None]).sum(0), rcond=None)[0][:, 0]
  dist = np.einsum("ni,ni->n", target - centres, axes)
  dist = np.maximum(dist, 1e-3)
  return 0.2 * dist, 2.5 * dist


def frustum_corners(c2w, intr, h, w, near, far):
  """The 8 corners of each camera's frustum slab between near and far.

  Args:
    c2w: (N, 3, 4); intr: (N, 4) fx, fy, cx, cy; h, w: image size; near, far: (N,).
  Returns:
    (N, 8, 3).
  """
  fx, fy, cx, cy = [intr[:, i, None] for i in range(4)]
  px = np.array([0, w, 0, w], np.float64)[None]
  py = np.array([0, 0, h, h], np.float64)[None]
  cam = np.stack([(px - cx) / fx, -(py - cy) / fy, -np.ones_like(px * fx)], -1)  # (N, 4, 3)
  d = np.einsum("nkj,nij->nki", cam, c2w[:, :3, :3])
  o = c2w[:, None, :3, 3]
  pts = [o + d * near[:, None, None], o + d * far[:, None, None]]
  return np.concatenate(pts, 1)
