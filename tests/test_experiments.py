"""The experiments' own scripts on a tiny trained run."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO


def test_depth_accuracy_experiment(tiny_run, tiny_scene, tmp_path):
  """experiments/depth_accuracy.py: its ratios are the rendered over the true depth maps (float64
  reference on the same renders), per band; a scene without depth maps is a one-line error."""
  spec = importlib.util.spec_from_file_location(
      "depth_accuracy", os.path.join(REPO, "experiments", "depth_accuracy.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  wd, _ = tiny_run
  scene, maps = mod.rendered_depths(wd)
  truth = np.stack([np.load(os.path.join(tiny_scene, "depth", os.path.splitext(scene.names[k])[0]
                                         + ".npy")).astype(np.float64) for k in scene.train_idx])
  res = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "depth_accuracy.py"),
                        tiny_scene, wd, "--bands=3"], capture_output=True, text=True, check=True)
  out = json.loads(res.stdout)[wd]
  ratio = maps / truth
  assert out["views"] == len(scene.train_idx) == len(maps)
  np.testing.assert_allclose(out["median_ratio"], np.median(ratio), rtol=1e-5)
  top = ratio[:, :6]  # 18 rows in 3 bands
  np.testing.assert_allclose(out["bands_top_to_bottom"][0]["median_ratio"], np.median(top),
                             rtol=1e-5)
  assert out["bands_top_to_bottom"][0]["within_3pct"] == pytest.approx(
      np.mean(np.abs(top - 1) <= 0.03))
  res = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "depth_accuracy.py"),
                        str(tmp_path), wd], capture_output=True, text=True)
  assert res.returncode != 0
  assert res.stderr.strip().splitlines()[-1].startswith(os.path.join(str(tmp_path), "depth"))


def test_side_by_side_experiment(tmp_path):
  """experiments/side_by_side.py: its PSNRs and Laplacian variances match float64 references on
  the images it read, the sheet is written, and a run that was not evaluated is a one-line error."""
  from PIL import Image
  rng = np.random.default_rng(0)
  scene, wd = tmp_path / "scene", tmp_path / "wd"
  for d in ("images", "images_sharp", "wd/eval/train_deblur"):
    (tmp_path / d if d.startswith("wd") else scene / d).mkdir(parents=True)
  imgs = {k: rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for k in ("photo", "sharp", "run")}
  Image.fromarray(imgs["photo"]).save(scene / "images" / "v0.png")
  Image.fromarray(imgs["sharp"]).save(scene / "images_sharp" / "v0.png")
  Image.fromarray(imgs["run"]).save(wd / "eval" / "train_deblur" / "v0.png")
  script = os.path.join(REPO, "experiments", "side_by_side.py")
  out = tmp_path / "sheet.png"
  res = subprocess.run([sys.executable, script, str(scene), str(out), f"--run=ours:{wd}",
                        "--scale=2"], capture_output=True, text=True, check=True)
  rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
  sharp = imgs["sharp"].astype(np.float64) / 255
  for row in rows[:-1]:
    img = imgs[{"truth": "sharp", "ours": "run"}.get(row["image"], row["image"])] / 255.0
    y = 255 * (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2])
    lap = [y[i - 1, j] + y[i + 1, j] + y[i, j - 1] + y[i, j + 1] - 4 * y[i, j]
           for i in range(1, 11) for j in range(1, 15)]
    assert row["laplacian_var"] == pytest.approx(np.var(lap), abs=0.1)
    if row["image"] != "truth":
      assert row["psnr"] == pytest.approx(-10 * np.log10(np.mean((img - sharp) ** 2)), abs=0.01)
  assert [r["image"] for r in rows[:-1]] == ["photo", "ours", "truth"]
  assert Image.open(out).size == (3 * 32, 24 + 16)
  res = subprocess.run([sys.executable, script, str(scene), str(out),
                        f"--run=x:{tmp_path}", "--views=v0"], capture_output=True, text=True)
  assert res.returncode != 0 and "does not exist" in res.stderr.strip().splitlines()[-1]


def test_update_cost_experiment():
  """The update benchmark runs the old and the current update and prints one JSON row per size."""
  res = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "update_cost.py"),
                        "--log2_table_sizes=8", "--repeats=1"], capture_output=True, text=True,
                       env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert res.returncode == 0, res.stderr[-2000:]
  row = json.loads(res.stdout.strip().splitlines()[-1])
  assert row["log2_table_size"] == 8 and row["update_ms"] > 0 and row["update_ms_before"] > 0


def test_hash_scatter_experiment():
  """The scatter benchmark times both corner layouts and finds them equal."""
  res = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "hash_scatter.py"),
                        "--log2_table_sizes=10", "--points=256", "--repeats=1"],
                       capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert res.returncode == 0, res.stderr[-2000:]
  row = json.loads(res.stdout.strip().splitlines()[-1])
  assert row["log2_table_size"] == 10 and row["scatter_ms_level_major"] > 0
  assert row["max_abs_diff"] < 1e-5
