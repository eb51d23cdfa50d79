"""The [tfds] extra: scene folders packed by tools/tfds_pack.py read back as the folder loader reads them."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds  # the [tfds] extra (setup.py); reading imports no TensorFlow

from helpers import REPO, llff_config
from macro_nerf.data.folders import read_folder
from macro_nerf.data.scene import load_scene
from macro_nerf.errors import DataError

SPLIT = "tiny_scene_1"  # from the folder name "Tiny Scene-1"


def _pack(data_dir, *args):
  return subprocess.run([sys.executable, "-m", "macro_nerf.tools.tfds_pack", *args,
                         f"--data_dir={data_dir}"], cwd=REPO, capture_output=True, text=True)


def _assert_one_line_error(r, *parts):
  assert r.returncode != 0
  last = r.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
  for p in parts:
    assert p in last, r.stderr


@pytest.fixture(scope="module")
def packed(tiny_scene, tmp_path_factory):
  """(scene folder, data_dir): a private copy of the tiny scene (factor 2 writes images_2 into it)."""
  root = tmp_path_factory.mktemp("tfds")
  scene = str(root / "Tiny Scene-1")
  shutil.copytree(tiny_scene, scene, ignore=shutil.ignore_patterns("images_*", "depth"))
  data_dir = str(root / "data")
  r = _pack(data_dir, scene)
  assert r.returncode == 0, r.stderr
  assert f"{SPLIT} (9 views)" in r.stdout
  return scene, data_dir


def _config(path, data_dir="", factor=1):
  return llff_config(path, tfds_data_dir=data_dir, factor=factor)


def test_packed_features_are_the_folder_loaders_in_world_units(packed):
  scene, data_dir = packed
  images, c2w, intr, near, far, names = read_folder(scene)
  source = tfds.data_source("macro_nerf_scenes", split=SPLIT, data_dir=data_dir)
  assert len(source) == len(names) == 9
  for i in range(len(source)):
    ex = source[i]
    j = int(ex["index"])
    assert ex["name"].decode() == names[j]
    assert ex["image"].dtype == np.uint8
    np.testing.assert_array_equal(ex["image"] / np.float32(255), images[j])
    np.testing.assert_allclose(ex["c2w"], c2w[j], rtol=1e-6, atol=1e-6)  # not normalised
    np.testing.assert_allclose(ex["intrinsics"], intr[j], rtol=1e-6)
    np.testing.assert_allclose([ex["near"], ex["far"]], [near[j], far[j]], rtol=1e-6)


@pytest.mark.parametrize("factor", [1, 2])
def test_load_scene_from_tfds_equals_the_folder(packed, factor):
  scene, data_dir = packed
  a = load_scene(_config(scene, factor=factor))
  b = load_scene(_config("tfds:" + SPLIT, data_dir, factor))
  assert b.images.shape == a.images.shape == (9, 18 // factor, 24 // factor, 3)
  assert b.images.dtype == np.float32
  if factor == 1:
    np.testing.assert_array_equal(b.images, a.images)
  else:
    np.testing.assert_allclose(b.images, a.images, atol=1e-6)
  assert b.names == a.names
  np.testing.assert_array_equal(b.train_idx, a.train_idx)
  np.testing.assert_array_equal(b.test_idx, a.test_idx)
  np.testing.assert_allclose(b.intrinsics, a.intrinsics, rtol=1e-6)
  np.testing.assert_allclose(b.c2w, a.c2w, atol=1e-6)  # normalised the same way
  np.testing.assert_allclose(b.near, a.near, rtol=1e-6)
  np.testing.assert_allclose(b.far, a.far, rtol=1e-6)
  np.testing.assert_allclose(b.center, a.center, atol=1e-6)
  assert b.scale == pytest.approx(a.scale, rel=1e-6)
  assert b.path == "tfds:" + SPLIT


def test_train_from_tfds_split(packed, tmp_path):
  _, data_dir = packed
  wd = str(tmp_path / "wd")
  over = {"data.path": "tfds:" + SPLIT, "data.tfds_data_dir": data_dir,
          "model.log2_table_size": 10, "model.prop_log2_table_size": 10, "model.num_levels": 4,
          "model.max_resolution": 64, "model.prop_samples": "(16,)", "model.nerf_samples": 8,
          "train.batch_size": 64, "train.max_steps": 2, "train.log_every": 1, "eval.chunk": 128,
          "defocus.patch_size": 8, "defocus.margin": 3}  # the 24x18 photos take 8 px patches
  r = subprocess.run([sys.executable, "-m", "macro_nerf.train", "--config=configs/llff.py",
                      f"--workdir={wd}"] + [f"--config.{k}={v}" for k, v in over.items()],
                     cwd=REPO, capture_output=True, text=True,
                     env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert r.returncode == 0, r.stderr[-3000:]
  summary = json.loads(r.stdout.strip().splitlines()[-1])
  assert summary["steps"] == 2
  with open(os.path.join(wd, "config.json")) as f:
    cfg = json.load(f)
  assert cfg["data"]["path"] == "tfds:" + SPLIT and cfg["data"]["tfds_data_dir"] == data_dir


def test_unknown_split_and_missing_dataset_name_data_dir_and_splits(packed, tmp_path):
  _, data_dir = packed
  with pytest.raises(DataError) as e:
    load_scene(_config("tfds:nope", data_dir))
  msg = str(e.value)
  assert "\n" not in msg and data_dir in msg and "'nope'" in msg and SPLIT in msg
  missing = str(tmp_path / "no_data")
  with pytest.raises(DataError) as e:
    load_scene(_config("tfds:" + SPLIT, missing))
  msg = str(e.value)
  assert "\n" not in msg and missing in msg and SPLIT in msg and "available splits: none" in msg
  assert not os.path.exists(missing)
  c = _config("tfds:" + SPLIT, data_dir)
  c.data.eval_sharp_dir = "images_sharp"
  with pytest.raises(DataError, match="eval_sharp_dir is not supported"):
    load_scene(c)


def test_pack_bad_input_writes_nothing(packed, tmp_path):
  scene, data_dir = packed
  before = sorted(os.listdir(data_dir)), sorted(os.listdir(os.path.join(data_dir,
                                                                        "macro_nerf_scenes")))
  fresh = str(tmp_path / "fresh")
  nowhere = str(tmp_path / "nowhere")
  _assert_one_line_error(_pack(fresh, nowhere), nowhere, "scene folder does not exist")
  # A folder that fails only while packing (no poses): the temporary build is removed too.
  os.makedirs(tmp_path / "empty")
  empty = str(tmp_path / "empty")
  _assert_one_line_error(_pack(fresh, scene, empty), empty, "poses_bounds.npy")
  assert not os.path.exists(fresh)
  # An existing dataset is kept: refused without --overwrite, and intact after a failed overwrite.
  _assert_one_line_error(_pack(data_dir, scene), "already there", "--overwrite")
  _assert_one_line_error(_pack(data_dir, scene, empty, "--overwrite"), empty)
  after = sorted(os.listdir(data_dir)), sorted(os.listdir(os.path.join(data_dir,
                                                                       "macro_nerf_scenes")))
  assert after == before
  assert len(load_scene(_config("tfds:" + SPLIT, data_dir)).images) == 9


def test_packed_folders_follow_the_umask(packed):
  umask = os.umask(0)
  os.umask(umask)
  dest = os.path.join(packed[1], "macro_nerf_scenes")
  for d in (packed[1], dest, os.path.join(dest, "1.0.0")):
    assert os.stat(d).st_mode & 0o777 == 0o777 & ~umask, d
