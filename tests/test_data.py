"""Scene loading: the two formats agree, normalisation, downsampling and bad input."""
import os
import shutil

import numpy as np
import pytest

from configs import llff
from macro_nerf import data

from conftest import SCENES

SCENE = os.path.join(SCENES, "pebbles")


def _config(path, **kw):
  c = llff.get_config()
  c.data.path = str(path)
  for k, v in kw.items():
    setattr(c.data, k, v)
  return c


def test_llff_and_transforms_loaders_agree():
  im1, c2w1, intr1, near1, far1, names1 = data.load_llff(SCENE, image_dir="images")
  im2, c2w2, intr2, near2, far2, names2 = data.load_transforms(SCENE, image_dir="images")
  assert names1 == names2 and len(names1) == len(im1)
  np.testing.assert_array_equal(im1, im2)
  np.testing.assert_allclose(c2w1, c2w2, atol=1e-5)
  np.testing.assert_allclose(intr1, intr2, rtol=1e-6)
  assert im1.dtype == np.float32 and im1.min() >= 0 and im1.max() <= 1
  assert np.all(near1 > 0) and np.all(far1 > near1)
  assert np.all(near2 > 0) and np.all(far2 > near2)


def test_load_scene_normalised_and_holdout():
  scene = data.load_scene(_config(SCENE))
  n = len(scene.images)
  corners = data.frustum_corners(scene.c2w.astype(np.float64), scene.intrinsics.astype(np.float64),
                                 scene.height, scene.width, scene.near.astype(np.float64),
                                 scene.far.astype(np.float64))
  assert corners.shape == (n, 8, 3)
  assert np.all(np.abs(corners) <= 1.0 + 1e-5)
  assert np.abs(corners).max() > 0.9  # the box is actually used
  idx = np.arange(n)
  np.testing.assert_array_equal(scene.test_idx, idx[idx % 8 == 0])
  np.testing.assert_array_equal(scene.train_idx, idx[idx % 8 != 0])
  assert len(scene.names) == n
  # center/scale undo the normalisation.
  _, c2w, _, near, _, _ = data.load_llff(SCENE)
  np.testing.assert_allclose(scene.c2w[:, :, 3] / scene.scale + scene.center, c2w[:, :, 3],
                             atol=1e-4)
  np.testing.assert_allclose(scene.near / scene.scale, near, rtol=1e-5)


def _small_scene(tmp_path, n_images=3, n_poses=3):
  dst = tmp_path / "scene"
  (dst / "images").mkdir(parents=True)
  names = sorted(os.listdir(os.path.join(SCENE, "images")))[:n_images]
  for nm in names:
    shutil.copy(os.path.join(SCENE, "images", nm), dst / "images" / nm)
  pb = np.load(os.path.join(SCENE, "poses_bounds.npy"))[:n_poses]
  np.save(dst / "poses_bounds.npy", pb)
  return dst, pb


def test_factor_two_downsamples(tmp_path):
  dst, pb = _small_scene(tmp_path)
  full, _, intr1, _, _, _ = data.load_llff(str(dst), factor=1)
  ims, c2w, intr, near, far, names = data.load_llff(str(dst), factor=2)
  assert os.path.isdir(dst / "images_2")
  assert len(os.listdir(dst / "images_2")) == 3
  h, w = full.shape[1:3]
  assert ims.shape == (3, h // 2, w // 2, 3)
  np.testing.assert_allclose(intr[:, 0], pb[:, 14] / 2, rtol=1e-6)
  np.testing.assert_allclose(intr[:, :2], intr1[:, :2] / 2, rtol=1e-6)
  np.testing.assert_allclose(intr[:, 2:], [[w // 4, h // 4]] * 3, atol=0.5)
  # Box filter: the mean colour is preserved.
  np.testing.assert_allclose(ims.mean((1, 2)), full[:, :h // 2 * 2, :w // 2 * 2].mean((1, 2)),
                             atol=0.01)
  np.testing.assert_array_equal(near, pb[:, 15])
  # Second call reuses the folder.
  again = data.load_llff(str(dst), factor=2)[0]
  np.testing.assert_array_equal(again, ims)


def test_missing_folder(tmp_path):
  missing = tmp_path / "nope"
  with pytest.raises(data.DataError) as e:
    data.load_scene(_config(missing))
  assert str(missing) in str(e.value)
  dst, _ = _small_scene(tmp_path)
  with pytest.raises(data.DataError) as e:
    data.load_llff(str(dst), image_dir="no_such_images")
  assert str(dst / "no_such_images") in str(e.value)


def test_empty_image_folder(tmp_path):
  dst, _ = _small_scene(tmp_path)
  shutil.rmtree(dst / "images")
  (dst / "images").mkdir()
  with pytest.raises(data.DataError) as e:
    data.load_scene(_config(dst))
  assert str(dst / "images") in str(e.value)


def test_image_pose_count_mismatch(tmp_path):
  dst, _ = _small_scene(tmp_path, n_images=3, n_poses=2)
  with pytest.raises(data.DataError) as e:
    data.load_llff(str(dst))
  msg = str(e.value)
  assert str(dst / "images") in msg and str(dst / "poses_bounds.npy") in msg
