"""Bad input is refused with one line that names the file and the problem, and nothing is written:
no workdir, no downsampled folder in the scene, no cache entry."""
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from helpers import dev_scene, llff_config, small_llff_scene

from macro_nerf.data.scene import load_scene
from macro_nerf.errors import DataError
from macro_nerf.training.loop import train
from macro_nerf.training.workdir import save_config


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
  """The per-user cache (read-only scenes) goes under tmp_path, where the listing checks see it."""
  monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _tree(root):
  return sorted(os.path.relpath(os.path.join(d, n), root)
                for d, dirs, files in os.walk(root) for n in dirs + files)


def _refused(tmp_path, scene, *parts, **config):
  """load_scene raises one DataError line holding every `parts`; tmp_path is left as it was."""
  before = _tree(tmp_path)
  with pytest.raises(DataError) as e:
    load_scene(llff_config(scene, **config))
  msg = str(e.value)
  assert "\n" not in msg
  for p in parts:
    assert str(p) in msg, (p, msg)
  assert _tree(tmp_path) == before
  return msg


def _write(path, content):
  if os.path.exists(path):
    os.chmod(path, 0o644)
  with open(path, "wb") as f:
    f.write(content)


def _tf_scene(tmp_path, n=3):
  """transforms.json + images: the first n views of the development scene."""
  dst, _ = small_llff_scene(tmp_path, n_images=n, n_poses=n)
  os.remove(dst / "poses_bounds.npy")
  with open(os.path.join(dev_scene(), "transforms.json")) as f:
    meta = json.load(f)
  meta["frames"] = meta["frames"][:n]
  _save_tf(dst, meta)
  return dst, meta


def _save_tf(dst, meta):
  with open(dst / "transforms.json", "w") as f:
    json.dump(meta, f)


def _save_pb(dst, pb):
  np.save(dst / "poses_bounds.npy", pb)


# ------------------------------------------------------------------------------------------------
# Images


def _truncated_png(p):
  return open(p, "rb").read()[:600]


def _truncated_jpeg(p):
  from PIL import Image
  import io
  buf = io.BytesIO()
  Image.open(p).save(buf, "JPEG")
  return buf.getvalue()[:len(buf.getvalue()) // 3]


@pytest.mark.parametrize("name,make", [
    ("001.png", _truncated_png),
    ("001.jpg", _truncated_jpeg),
    ("001.png", lambda p: b"this is not an image\n"),
    ("001.jpg", lambda p: b""),
])
@pytest.mark.parametrize("factor", [1, 2])
def test_unreadable_image(tmp_path, name, make, factor):
  dst, _ = small_llff_scene(tmp_path)
  src = dst / "images" / "001.png"
  content = make(src)
  os.remove(src)
  _write(dst / "images" / name, content)
  msg = _refused(tmp_path, dst, dst / "images" / name, "not a readable image", factor=factor)
  assert not os.path.exists(dst / "images_2")
  assert msg.startswith(str(dst / "images" / name))


def test_unreadable_image_in_read_only_scene_leaves_no_cache_entry(tmp_path):
  dst, _ = small_llff_scene(tmp_path)
  _write(dst / "images" / "002.png", b"garbage")
  mode = os.stat(dst).st_mode
  os.chmod(dst, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
  try:
    _refused(tmp_path, dst, dst / "images" / "002.png", "not a readable image", factor=2)
  finally:
    os.chmod(dst, mode)
  assert not os.path.exists(tmp_path / "home")


def test_image_count_differs_from_pose_count(tmp_path):
  dst, _ = small_llff_scene(tmp_path, n_images=3, n_poses=2)
  for factor in (1, 2):
    msg = _refused(tmp_path, dst, dst / "images", dst / "poses_bounds.npy", factor=factor)
    assert "3 images" in msg and "2 poses" in msg


@pytest.mark.parametrize("factor", [1, 2])
def test_frame_image_missing(tmp_path, factor):
  dst, meta = _tf_scene(tmp_path)
  os.remove(dst / "images" / "002.png")
  _refused(tmp_path, dst, dst / "transforms.json", "images/002.png", "not found",
           dst / "images", factor=factor)


@pytest.mark.parametrize("fmt", ["llff", "transforms"])
@pytest.mark.parametrize("factor", [1, 2])
def test_mixed_image_sizes(tmp_path, fmt, factor):
  from PIL import Image
  dst = small_llff_scene(tmp_path)[0] if fmt == "llff" else _tf_scene(tmp_path)[0]
  p = dst / "images" / "002.png"
  small = Image.open(p).resize((100, 60))
  os.chmod(p, 0o644)
  small.save(p)
  _refused(tmp_path, dst, p, "100x60", "000.png is 200x150", "same size", factor=factor)


# ------------------------------------------------------------------------------------------------
# poses_bounds.npy


@pytest.mark.parametrize("bad", [lambda pb: pb[:, :15], lambda pb: pb.ravel(),
                                 lambda pb: pb[:0], lambda pb: pb.astype(str)])
def test_poses_bounds_wrong_shape(tmp_path, bad):
  dst, pb = small_llff_scene(tmp_path)
  _save_pb(dst, bad(pb))
  _refused(tmp_path, dst, dst / "poses_bounds.npy", "expected an N x 17 array")


def test_poses_bounds_not_npy(tmp_path):
  dst, _ = small_llff_scene(tmp_path)
  _write(dst / "poses_bounds.npy", b"not numpy")
  _refused(tmp_path, dst, dst / "poses_bounds.npy", "cannot read")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_pose(tmp_path, value):
  dst, pb = small_llff_scene(tmp_path)
  pb[1, 3] = value  # view 1, translation
  _save_pb(dst, pb)
  _refused(tmp_path, dst, dst / "poses_bounds.npy", "view 1", "NaN or Inf")


def _rotation_cols(pb, i, fn):
  p = pb[i, :15].reshape(3, 5)
  p[:, :3] = fn(p[:, :3])
  pb[i, :15] = p.ravel()


@pytest.mark.parametrize("what,fn", [
    ("scaled", lambda r: 2.0 * r),
    ("reflected", lambda r: r * np.array([1.0, 1.0, -1.0])),
    ("sheared", lambda r: r + 0.1 * r[:, [1, 2, 0]]),
    ("zero", lambda r: 0.0 * r),
])
def test_rotation_not_a_rotation(tmp_path, what, fn):
  dst, pb = small_llff_scene(tmp_path)
  _rotation_cols(pb, 2, fn)
  _save_pb(dst, pb)
  _refused(tmp_path, dst, dst / "poses_bounds.npy", "view 2", "not a rotation")


def test_rotation_rounding_is_accepted(tmp_path):
  dst, pb = small_llff_scene(tmp_path)
  rng = np.random.default_rng(0)
  _rotation_cols(pb, 1, lambda r: r + rng.uniform(-1e-3, 1e-3, r.shape))  # a float16 round trip
  _save_pb(dst, pb.astype(np.float32))
  assert len(load_scene(llff_config(dst)).images) == 3


@pytest.mark.parametrize("focal", [0.0, -100.0, np.nan, np.inf])
def test_bad_focal_length(tmp_path, focal):
  dst, pb = small_llff_scene(tmp_path)
  pb[1, 14] = focal
  _save_pb(dst, pb)
  _refused(tmp_path, dst, dst / "poses_bounds.npy", "view 1", "positive and finite")


def test_all_cameras_at_one_position(tmp_path):
  dst, pb = small_llff_scene(tmp_path)
  p = pb[:, :15].reshape(-1, 3, 5)
  p[:, :, 3] = p[0, :, 3]
  pb[:, :15] = p.reshape(-1, 15)
  _save_pb(dst, pb)
  _refused(tmp_path, dst, dst / "poses_bounds.npy", "all 3 cameras are at the same position")


@pytest.mark.parametrize("near,far", [(0.0, 5.0), (-1.0, 5.0), (5.0, 5.0), (6.0, 5.0),
                                      (np.nan, 5.0), (1.0, np.inf)])
def test_bad_bounds_name_the_view(tmp_path, near, far):
  dst, pb = small_llff_scene(tmp_path)
  pb[2, 15:] = near, far
  _save_pb(dst, pb)
  _refused(tmp_path, dst, dst / "poses_bounds.npy", "view 2", "0 < near < far", factor=2)
  assert not os.path.exists(dst / "images_2")


# ------------------------------------------------------------------------------------------------
# transforms.json


def test_transforms_not_json(tmp_path):
  dst, _ = _tf_scene(tmp_path)
  _write(dst / "transforms.json", b'{"frames": [')
  _refused(tmp_path, dst, dst / "transforms.json", "not valid JSON")


@pytest.mark.parametrize("edit,expect", [
    (lambda m: m["frames"][1].pop("transform_matrix"), "frame 1 (images/001.png): no transform_matrix"),
    (lambda m: m["frames"][1].update(transform_matrix=np.eye(3).tolist()), "got shape (3, 3)"),
    (lambda m: m["frames"][1].update(transform_matrix=[[1, 2], [3]]), "not a matrix of numbers"),
    (lambda m: m["frames"][2].pop("file_path"), "frame 2 has no file_path"),
    (lambda m: m.update(frames=[]), "no frames"),
    (lambda m: m.update(fl_x=0.0), "fl_x = 0.0 must be positive"),
    (lambda m: m.update(fl_x="300"), "fl_x = '300' is not a finite number"),
    (lambda m: [m.pop(k) for k in ("fl_x", "fl_y", "camera_angle_x")], "no focal length"),
    (lambda m: m["frames"][1]["transform_matrix"][0].__setitem__(0, float("nan")),
     "view 1 (images/001.png): camera pose contains NaN or Inf"),
    (lambda m: [f.update(transform_matrix=m["frames"][0]["transform_matrix"]) for f in m["frames"]],
     "all 3 cameras are at the same position"),
])
def test_transforms_malformed(tmp_path, edit, expect):
  dst, meta = _tf_scene(tmp_path)
  edit(meta)
  _save_tf(dst, meta)
  _refused(tmp_path, dst, dst / "transforms.json", expect, factor=2)
  assert not os.path.exists(dst / "images_2")


def test_transforms_not_an_object(tmp_path):
  dst, meta = _tf_scene(tmp_path)
  _save_tf(dst, meta["frames"])
  _refused(tmp_path, dst, dst / "transforms.json", "expected a JSON object")


# ------------------------------------------------------------------------------------------------
# Folders


def test_empty_scene_folder_and_missing_path(tmp_path):
  (tmp_path / "empty").mkdir()
  _refused(tmp_path, tmp_path / "empty", tmp_path / "empty", "no poses_bounds.npy")
  _refused(tmp_path, tmp_path / "nope", tmp_path / "nope", "does not exist")


def test_train_with_overwrite_leaves_workdir_alone_on_bad_scene(tmp_path):
  wd = tmp_path / "wd"
  c = llff_config(tmp_path / "nope")
  c.model.width = 7  # another run's config: --overwrite would clear it
  save_config(c, str(wd))
  (wd / "train_log.jsonl").write_text("{}\n")
  before = _tree(tmp_path)
  with pytest.raises(DataError, match="scene folder does not exist"):
    train(llff_config(tmp_path / "nope"), str(wd), progress=False, overwrite=True)
  assert _tree(tmp_path) == before


# ------------------------------------------------------------------------------------------------
# The command line


def _train_cli(tmp_path, *args):
  """The train command, the config by its short name, run outside the repository."""
  wd = tmp_path / "wd"
  r = subprocess.run([sys.executable, "-m", "macro_nerf.train", "--config=llff",
                      f"--workdir={wd}", *args], cwd=tmp_path, capture_output=True, text=True,
                     env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert r.returncode != 0
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
  assert not os.path.exists(wd)
  return lines[0]


def test_cli_unknown_config_keys(tmp_path):
  dst, _ = small_llff_scene(tmp_path)
  line = _train_cli(tmp_path, "--config.data.pathh=x")
  assert line.startswith("error: unknown config key 'data.pathh'") and "'data.path'" in line
  line = _train_cli(tmp_path, f"--config.data.path={dst}", "--config.train.maxsteps=3")
  assert "unknown config key 'train.maxsteps'" in line and "'train.max_steps'" in line


def test_cli_bad_scenes(tmp_path):
  line = _train_cli(tmp_path, f"--config.data.path={tmp_path / 'nope'}")
  assert line == f"error: {tmp_path / 'nope'}: scene folder does not exist"
  dst, pb = small_llff_scene(tmp_path)
  bad = pb.copy()
  bad[1, 15] = -1.0
  _save_pb(dst, bad)
  before = _tree(tmp_path)
  line = _train_cli(tmp_path, f"--config.data.path={dst}", "--config.data.factor=2")
  assert str(dst / "poses_bounds.npy") in line and "view 1" in line and "near" in line
  assert _tree(tmp_path) == before
  _save_pb(dst, pb)
  _write(dst / "images" / "000.png", b"")
  line = _train_cli(tmp_path, f"--config.data.path={dst}", "--config.data.factor=2")
  assert str(dst / "images" / "000.png") in line and "not a readable image" in line
  assert _tree(tmp_path) == before
