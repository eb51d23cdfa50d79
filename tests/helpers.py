"""Configs and command lines the tests share: tiny models on tiny generated scenes."""
import atexit
import os
import shutil
import sys
import tempfile

import numpy as np

from macro_nerf import config_files
from macro_nerf.scenes import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV_VIEWS = 17
_DEV = {}


def dev_scene():
  """A generated forward-facing scene in the development scenes' format (images/, images_sharp/,
  depth/, poses_bounds.npy, transforms.json, lens.json): DEV_VIEWS views of 200x150, rendered on
  first use (~15 s) and shared read-only by the whole test session."""
  if "path" not in _DEV:
    root = tempfile.mkdtemp(prefix="macro_nerf_test_scene_")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    _DEV["path"] = os.path.join(root, "scene")
    synthetic.render_scene(_DEV["path"], num_views=DEV_VIEWS, width=200, height=150,
                           lens_samples=8, progress=False)
  return _DEV["path"]


def tiny_config(path):
  """configs/demo.py shrunk to a few-second run, defocus off."""
  c = config_files.load("demo")
  c.data.path = path
  c.defocus.enabled = False  # the demo's own config trains with defocus; defocus_config() below
  c.model.log2_table_size = 10
  c.model.prop_log2_table_size = 10
  c.model.num_levels = 4
  c.model.max_resolution = 64
  c.model.prop_samples = (16,)
  c.model.nerf_samples = 8
  c.train.batch_size = 64
  c.train.max_steps = 3
  c.train.checkpoint_every = 3
  c.train.log_every = 1
  c.eval.chunk = 128
  return c


def defocus_config(path):
  """tiny_config with defocus on: 1 warm-up step, then patch steps that train the field."""
  c = tiny_config(path)
  c.defocus.enabled = True
  c.defocus.patch_size = 8
  c.defocus.margin = 3
  c.defocus.warmup_steps = 1  # a quarter of the 4 steps: the most a run's warm-up may take
  c.defocus.patch_every = 1  # every step after the warm-up a patch step that trains the field:
  c.defocus.patch_field_grad = True  # the full blur path (the defaults mix in focus-ray steps)
  c.train.max_steps = 4
  c.train.checkpoint_every = 2
  return c


def llff_config(path, **data):
  """configs/llff.py on the scene at `path`, with data.* overrides."""
  c = config_files.load("llff")
  c.data.path = str(path)
  for k, v in data.items():
    setattr(c.data, k, v)
  return c


def train_cli_args(scene_path, workdir, steps):
  """The `python -m macro_nerf.train` command line of defocus_config(scene_path) at `steps`."""
  c = defocus_config(scene_path)
  over = {"data.path": scene_path, "model.log2_table_size": 10, "model.prop_log2_table_size": 10,
          "model.num_levels": 4, "model.max_resolution": 64, "model.prop_samples": "(16,)",
          "model.nerf_samples": 8, "train.batch_size": 64, "train.max_steps": steps,
          "train.checkpoint_every": 2, "train.log_every": 1, "eval.chunk": 128,
          "defocus.patch_size": c.defocus.patch_size, "defocus.margin": c.defocus.margin,
          "defocus.warmup_steps": c.defocus.warmup_steps}
  return ([sys.executable, "-m", "macro_nerf.train", "--config=demo", f"--workdir={workdir}"]
          + [f"--config.{k}={v}" for k, v in over.items()])


def small_llff_scene(tmp_path, n_images=3, n_poses=3):
  """An LLFF folder with the first n_images photos and n_poses poses of dev_scene()."""
  scene = dev_scene()
  dst = tmp_path / "scene"
  (dst / "images").mkdir(parents=True)
  for nm in sorted(os.listdir(os.path.join(scene, "images")))[:n_images]:
    shutil.copy(os.path.join(scene, "images", nm), dst / "images" / nm)
  pb = np.load(os.path.join(scene, "poses_bounds.npy"))[:n_poses]
  np.save(dst / "poses_bounds.npy", pb)
  return dst, pb
