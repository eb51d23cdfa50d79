"""The demo end to end on a shrunk scene: picture, per-view figures, summary, --help."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from macro_nerf import demo


def test_demo_writes_picture_and_figures(tmp_path, monkeypatch):
  monkeypatch.setattr(demo, "SCENE", dict(demo.SCENE, num_views=4, width=40, height=30,
                                          lens_samples=2, blur_px=[2.0, 3.0]))
  monkeypatch.setattr(demo, "SHOWN", ("001.png", "003.png"))
  tiny = {"model.log2_table_size": 10, "model.prop_log2_table_size": 10, "model.num_levels": 4,
          "model.max_resolution": 64, "model.prop_samples": (8,), "model.nerf_samples": 8,
          "train.batch_size": 64, "defocus.patch_size": 8, "defocus.margin": 3,
          "train.checkpoint_every": 4, "eval.chunk": 256}
  result = demo.run(str(tmp_path), steps=4, progress=False, overrides=tiny)
  assert sorted(result["train_views"]) == ["001.png", "002.png", "003.png"]
  assert list(result["novel_views"]) == ["000.png"]
  for v in result["train_views"].values():
    assert np.isfinite(v["input_psnr"]) and np.isfinite(v["deblurred_psnr"])
    np.testing.assert_allclose(v["gain_db"], v["deblurred_psnr"] - v["input_psnr"], atol=1e-9)
  assert set(result["lens"]) == set(result["train_views"])
  with Image.open(result["picture"]) as im:
    w, h = im.size
  panel = demo.ZOOM * 40
  assert w == 4 * panel + 3 * 4  # input | deblurred | truth | depth, 4 px gaps
  assert h > 2 * (demo.ZOOM * 30)  # a caption block and two rows
  assert len(os.listdir(result["deblurred_dir"])) == 2 * 4  # every view and its depth
  with open(result["summary"]) as f:
    assert json.load(f)["shown_views"] == ["001.png", "003.png"]
  text = demo.report(result)
  assert "look at: " + result["picture"] in text and "003.png" in text


def test_demo_help_exits_zero():
  out = subprocess.run([sys.executable, "-m", "macro_nerf.demo", "--help"], capture_output=True,
                       text=True, check=False)
  assert out.returncode == 0, out.stderr
  assert "workdir" in out.stdout
