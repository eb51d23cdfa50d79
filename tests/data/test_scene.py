"""Scene loading: the two formats agree, normalisation, downsampling and bad input."""
import os
import shutil

import numpy as np
from PIL import Image
import pytest

from helpers import dev_scene, llff_config, small_llff_scene
from macro_nerf.data.llff import load_llff
from macro_nerf.data.nerfstudio import load_transforms
from macro_nerf.data.scene import load_scene
from macro_nerf.errors import DataError
from macro_nerf.nerf.camera import frustum_corners



def test_llff_and_transforms_loaders_agree():
  im1, c2w1, intr1, near1, far1, names1 = load_llff(dev_scene(), image_dir="images")
  im2, c2w2, intr2, near2, far2, names2 = load_transforms(dev_scene(), image_dir="images")
  assert names1 == names2 and len(names1) == len(im1)
  np.testing.assert_array_equal(im1, im2)
  np.testing.assert_allclose(c2w1, c2w2, atol=1e-5)
  np.testing.assert_allclose(intr1, intr2, rtol=1e-6)
  assert im1.dtype == np.float32 and im1.min() >= 0 and im1.max() <= 1
  assert np.all(near1 > 0) and np.all(far1 > near1)
  assert np.all(near2 > 0) and np.all(far2 > near2)


def test_load_scene_normalised_and_holdout():
  scene = load_scene(llff_config(dev_scene()))
  n = len(scene.images)
  corners = frustum_corners(scene.c2w.astype(np.float64), scene.intrinsics.astype(np.float64),
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
  _, c2w, _, near, _, _ = load_llff(dev_scene())
  np.testing.assert_allclose(scene.c2w[:, :, 3] / scene.scale + scene.center, c2w[:, :, 3],
                             atol=1e-4)
  np.testing.assert_allclose(scene.near / scene.scale, near, rtol=1e-5)


def test_factor_two_downsamples(tmp_path):
  dst, pb = small_llff_scene(tmp_path)
  full, _, intr1, _, _, _ = load_llff(str(dst), factor=1)
  ims, c2w, intr, near, far, names = load_llff(str(dst), factor=2)
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
  again = load_llff(str(dst), factor=2)[0]
  np.testing.assert_array_equal(again, ims)


def test_missing_folder(tmp_path):
  missing = tmp_path / "nope"
  with pytest.raises(DataError) as e:
    load_scene(llff_config(missing))
  assert str(missing) in str(e.value)
  dst, _ = small_llff_scene(tmp_path)
  with pytest.raises(DataError) as e:
    load_llff(str(dst), image_dir="no_such_images")
  assert str(dst / "no_such_images") in str(e.value)


def test_empty_image_folder(tmp_path):
  dst, _ = small_llff_scene(tmp_path)
  shutil.rmtree(dst / "images")
  (dst / "images").mkdir()
  with pytest.raises(DataError) as e:
    load_scene(llff_config(dst))
  assert str(dst / "images") in str(e.value)


def test_image_pose_count_mismatch(tmp_path):
  dst, _ = small_llff_scene(tmp_path, n_images=3, n_poses=2)
  with pytest.raises(DataError) as e:
    load_llff(str(dst))
  msg = str(e.value)
  assert str(dst / "images") in msg and str(dst / "poses_bounds.npy") in msg


def test_sharp_references_matched_by_stem(tmp_path):
  """JPEG photos with PNG sharp references of the same stems (reconstruct's eval_sharp_dir)."""
  from macro_nerf.data.images import load_matching  # pylint: disable=import-outside-toplevel
  for k in range(2):
    Image.fromarray(np.full((4, 6, 3), 40 * k, np.uint8)).save(tmp_path / f"{k:03d}.png")
  got = load_matching(str(tmp_path), ["000.jpg", "001.JPG"])
  assert got.shape == (2, 4, 6, 3) and got[1].max() > got[0].max()
  with pytest.raises(DataError, match="no image for 002.jpg"):
    load_matching(str(tmp_path), ["002.jpg"])
