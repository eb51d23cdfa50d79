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
