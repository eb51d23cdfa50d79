"""Rendering the field: rays through pixels, and chunked, data-parallel renders and queries.

What training's ray steps, evaluation, exports and the priors share: everything here runs under
jit with the batch sharded over the device mesh and results replicated (`parallel.py`).
"""
import jax
import jax.numpy as jnp
import numpy as np

from macro_nerf import parallel
from macro_nerf.nerf import camera


def dummy_rays(n=4):
  z = jnp.zeros((n, 3))
  return camera.make_rays(z, z.at[:, 2].set(-1.0), jnp.ones((n, 1)), 2 * jnp.ones((n, 1)),
                          jnp.zeros((n, 1), jnp.int32))


def device_data(scene, idx, mesh=None):
  """The cameras of views idx, replicated on every device (pixels come in each step's batch)."""
  data = {
      "c2w": np.asarray(scene.c2w[idx]),
      "intrinsics": np.asarray(scene.intrinsics[idx]),
      "near": np.asarray(scene.near[idx]),
      "far": np.asarray(scene.far[idx]),
  }
  return parallel.replicate(data, mesh or parallel.make_mesh())


def grid_pixels(num_views, image_size, grid):
  """cam, px, py of a gy x gx grid of pixel centres in every one of num_views views."""
  h, w = image_size
  gy, gx = grid
  py, px = np.meshgrid((np.arange(gy) + 0.5) * h / gy - 0.5, (np.arange(gx) + 0.5) * w / gx - 0.5,
                       indexing="ij")
  cam = np.repeat(np.arange(num_views), gy * gx)
  return cam, np.tile(px.reshape(-1), num_views), np.tile(py.reshape(-1), num_views)


def rays_for_pixels(data, cam, px, py):
  """Rays through pixel centres (px, py) (integers) of views cam (indices into data)."""
  c2w = data["c2w"][cam]
  intr = data["intrinsics"][cam]
  fx, fy, cx, cy = [intr[..., i] for i in range(4)]
  d = camera.pixel_directions(px + 0.5, py + 0.5, c2w, (fx, fy, cx, cy), xnp=jnp)
  o = c2w[..., :3, 3]
  return camera.make_rays(o, d, data["near"][cam][..., None], data["far"][cam][..., None],
                          cam[..., None].astype(jnp.int32))


def make_render_fn(model, mesh=None):
  """Jitted render of pixels (cam, px, py) sharded over the mesh; results replicated."""
  mesh = mesh or parallel.make_mesh()

  def render_chunk(params, data, cam, px, py):
    rays = rays_for_pixels(data, cam, px, py)
    out = model.apply({"params": params}, jax.random.PRNGKey(0), rays, train=False)
    return {k: out[k] for k in ("rgb", "depth", "acc")}

  fn = jax.jit(render_chunk, out_shardings=parallel.replicated(mesh))
  fn.mesh = mesh
  return fn


def render_pixels(render_fn, params, data, cam, px, py, chunk):
  """Renders any number of pixels in sharded fixed-size chunks; numpy outputs on every process."""
  cols = (np.asarray(cam, np.int32), np.asarray(px, np.float32), np.asarray(py, np.float32))
  return parallel.map_chunks(lambda c, x, y: render_fn(params, data, c, x, y), cols, chunk,
                             render_fn.mesh)


def make_query_fn(model, mesh=None):
  """Jitted field query at points (normalised scene coordinates), sharded over the mesh; for
  density grids (mesh export) and vertex colours."""
  mesh = mesh or parallel.make_mesh()

  def query(params, x, viewdirs):
    density, rgb = model.apply({"params": params}, x, viewdirs, method=model.query)
    return {"density": density, "rgb": rgb}

  fn = jax.jit(query, out_shardings=parallel.replicated(mesh))
  fn.mesh = mesh
  return fn


def query_points(query_fn, params, points, chunk, viewdirs=None):
  """Density and linear RGB at any number of points (N, 3), in sharded fixed-size chunks.
  viewdirs (N, 3) default to looking down -z."""
  points = np.asarray(points, np.float32)
  if viewdirs is None:
    viewdirs = np.broadcast_to(np.array([0.0, 0.0, -1.0], np.float32), points.shape)
  return parallel.map_chunks(lambda x, v: query_fn(params, x, v),
                             (points, np.asarray(viewdirs, np.float32)), chunk, query_fn.mesh)


def render_view(render_fn, params, data, cam, height, width, chunk, margin=0):
  """Renders one view; returns numpy rgb (linear), depth, acc.

  margin > 0 also renders that many pixels beyond every edge (rays extend past the frame), which
  the defocus blur of the border needs.
  """
  py, px = np.meshgrid(np.arange(-margin, height + margin), np.arange(-margin, width + margin),
                       indexing="ij")
  height, width = height + 2 * margin, width + 2 * margin
  px, py = px.reshape(-1), py.reshape(-1)
  out = render_pixels(render_fn, params, data, np.full(px.size, cam, np.int32), px, py, chunk)
  return {k: v.reshape(height, width, *v.shape[1:]) for k, v in out.items()}
