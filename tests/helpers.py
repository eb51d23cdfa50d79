"""Configs and command lines the tests share: tiny models on tiny generated scenes."""
import os
import shutil
import sys

import numpy as np

from macro_nerf import config_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENES = os.path.join(os.path.dirname(REPO), "shared", "scenes")


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
  """tiny_config with defocus on: 2 warm-up steps, then patch steps that train the field."""
  c = tiny_config(path)
  c.defocus.enabled = True
  c.defocus.patch_size = 8
  c.defocus.margin = 3
  c.defocus.warmup_steps = 2
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
  """An LLFF folder with the first n_images photos and n_poses poses of pebbles."""
  scene = os.path.join(SCENES, "pebbles")
  dst = tmp_path / "scene"
  (dst / "images").mkdir(parents=True)
  for nm in sorted(os.listdir(os.path.join(scene, "images")))[:n_images]:
    shutil.copy(os.path.join(scene, "images", nm), dst / "images" / nm)
  pb = np.load(os.path.join(scene, "poses_bounds.npy"))[:n_poses]
  np.save(dst / "poses_bounds.npy", pb)
  return dst, pb
