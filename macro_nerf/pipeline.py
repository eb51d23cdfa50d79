"""What train, eval, demo and benchmarks share: state, checkpoints, batches, chunked rendering."""
import json
import os
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp

from macro_nerf import camera, parallel
from macro_nerf import lens as lens_lib
from macro_nerf.model import model_from_config


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Any
  opt_state: Any


def schedule(config, lr_init=None, lr_final=None):
  """Linear warm-up then exponential decay to lr_final at max_steps."""
  t = config.train
  lr_init = t.lr_init if lr_init is None else lr_init
  lr_final = t.lr_final if lr_final is None else lr_final
  decay_steps = max(t.max_steps - t.warmup_steps, 1)
  warm = optax.linear_schedule(lr_init * 0.01, lr_init, max(t.warmup_steps, 1))
  decay = optax.exponential_decay(lr_init, decay_steps, lr_final / lr_init)
  return optax.join_schedules([warm, decay], [t.warmup_steps])


def make_optimizer(config):
  """Adam with global-norm clipping; the lens parameters get their own learning rate."""
  field_tx = optax.chain(optax.clip_by_global_norm(config.train.grad_clip),
                         optax.adam(schedule(config), b1=0.9, b2=0.99, eps=1e-15))
  if not config.defocus.enabled:
    return field_tx
  d = config.defocus
  if d.learn_lens:
    lens_tx = optax.adam(schedule(config, d.lens_lr_init, d.lens_lr_final), b1=0.9, b2=0.99)
  else:
    lens_tx = optax.set_to_zero()
  labels = lambda params: {k: ("lens" if k == "lens" else "field") for k in params}
  return optax.multi_transform({"field": field_tx, "lens": lens_tx}, labels)


def model_params(params):
  """The radiance model's parameters (defocus runs also hold lens and residual parameters)."""
  return params["model"] if "lens" in params else params


def dummy_rays(n=4):
  z = jnp.zeros((n, 3))
  return camera.make_rays(z, z.at[:, 2].set(-1.0), jnp.ones((n, 1)), 2 * jnp.ones((n, 1)),
                          jnp.zeros((n, 1), jnp.int32))


def residual_from_config(config, num_train_views):
  d = config.defocus
  return lens_lib.ResidualRadius(num_views=num_train_views, embed_dim=d.residual_embed,
                                 width=d.residual_width)


def init_state(config, scene):
  """Model, optimiser and the initial TrainState (deterministic in config.seed).

  With defocus on, params = {"model", "lens", "residual"}; otherwise the model's own tree.
  """
  model = model_from_config(config)
  key = jax.random.PRNGKey(config.seed)
  params = model.init(key, key, dummy_rays(), train=False)["params"]
  if config.defocus.enabled:
    idx = scene.train_idx
    if config.defocus.lens_init:
      lens = lens_lib.lens_from_file(os.path.join(scene.path, config.defocus.lens_init),
                                     [scene.names[i] for i in idx], scene.near[idx],
                                     scene.far[idx], scene.scale)
    else:
      lens = lens_lib.initial_lens(scene.near[idx], scene.far[idx], config.defocus.init_radius_px)
    res = residual_from_config(config, len(idx))
    res_params = res.init(jax.random.fold_in(key, 1), jnp.zeros((1,), jnp.int32),
                          jnp.zeros((1, 2)), jnp.zeros((1,)))["params"]
    params = {"model": params, "lens": lens, "residual": res_params}
  tx = make_optimizer(config)
  state = TrainState(step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params))
  return model, tx, state


# ----------------------------------------------------------------------------- batches and cameras

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


def step_rng(seed, step):
  """The host random generator of one training step: the same on every process and on resume."""
  return np.random.default_rng([seed, step])


def random_pixels(rng, images, batch_size):
  """Uniformly random training pixels of images (N, H, W, 3): view, pixel and colour."""
  n, h, w = images.shape[:3]
  cam = rng.integers(0, n, batch_size)
  px = rng.integers(0, w, batch_size)
  py = rng.integers(0, h, batch_size)
  return {"cam": cam.astype(np.int32), "px": px.astype(np.int32), "py": py.astype(np.int32),
          "target": images[cam, py, px]}


# ----------------------------------------------------------------------------- rendering

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


# ----------------------------------------------------------------------------- checkpoints & config

def checkpoint_manager(workdir, keep=2):
  opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=opts)


def restore_latest(mgr, state):
  """Newest complete checkpoint (orbax only lists finalised ones) or None; restored with the
  shardings of `state`."""
  step = mgr.latest_step()
  if step is None:
    return None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  return mgr.restore(step, args=ocp.args.StandardRestore(abstract))


def load_run(workdir, mesh=None):
  """Config, scene, model and the newest checkpoint's state of a training workdir (restored
  replicated over the mesh, whatever device count wrote it)."""
  from macro_nerf.data import load_scene
  config = load_config(workdir)
  scene = load_scene(config)
  model, _, state = init_state(config, scene)
  state = parallel.replicate(state, mesh or parallel.make_mesh())
  mgr = checkpoint_manager(workdir)
  restored = restore_latest(mgr, state)
  mgr.close()
  if restored is None:
    raise FileNotFoundError(f"{workdir}: no checkpoint found; train first")
  return config, scene, model, restored


def save_config(config, workdir):
  os.makedirs(workdir, exist_ok=True)
  tmp = os.path.join(workdir, ".config.json.tmp")
  with open(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=1))
  os.replace(tmp, os.path.join(workdir, "config.json"))


def load_config(workdir):
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no config found; is {workdir} a training workdir?")
  with open(path) as f:
    cfg = json.load(f)
  # Keys added since the run was written take today's defaults, so older runs still load.
  from configs import base as base_config  # pylint: disable=import-outside-toplevel
  config = base_config.get_config()
  _merge(config, _tuples(cfg))
  return config


def _merge(config, values):
  for k, v in values.items():
    if isinstance(v, dict) and isinstance(config.get(k), ml_collections.ConfigDict):
      _merge(config[k], v)
    else:
      with config.ignore_type():
        config[k] = v


def _tuples(x):
  """JSON turns tuples into lists; configs use tuples for sequences."""
  if isinstance(x, dict):
    return {k: _tuples(v) for k, v in x.items()}
  if isinstance(x, list):
    return tuple(_tuples(v) for v in x)
  return x
