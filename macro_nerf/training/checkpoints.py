"""Checkpoints (orbax) of the training state, and loading a finished or running run."""
import os

import jax
import orbax.checkpoint as ocp

from macro_nerf import parallel
from macro_nerf.data.scene import load_scene
from macro_nerf.nerf.pose_refine import refined_scene
from macro_nerf.training.state import init_state
from macro_nerf.training.workdir import load_config


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
  replicated over the mesh, whatever device count wrote it); training photos at their learned
  poses when the run refined them."""
  config = load_config(workdir)
  scene = load_scene(config)
  model, _, state = init_state(config, scene)
  state = parallel.replicate(state, mesh or parallel.make_mesh())
  mgr = checkpoint_manager(workdir)
  restored = restore_latest(mgr, state)
  mgr.close()
  if restored is None:
    raise FileNotFoundError(f"{workdir}: no checkpoint found; train first")
  if "pose" in restored.params:
    scene = refined_scene(scene, parallel.to_host(restored.params["pose"]))
  return config, scene, model, restored
