"""Renders of a trained run: a view refocused and a focus pull; refocus against the sharp render."""
import os

import numpy as np
import pytest

from macro_nerf import render as render_cmd
from macro_nerf.defocus.blur import refocus
from macro_nerf.export import renders, video


def _written(folder):
  return sorted(os.path.join(d, n) for d, _, files in os.walk(folder) for n in files)


def test_render_refocus_and_focus_pull(defocus_run_copy):
  wd = defocus_run_copy
  res = renders.render(wd, view="001", focus_pull=3, margin=4, progress=False)
  # Every file written is counted: sharp, depth, the refocused view and the 3 focus-pull frames.
  assert res["view"] == "001.png" and res["focus"] > 0 and len(res["files"]) == 6
  assert sorted(res["files"]) == _written(os.path.join(wd, "render"))
  assert render_cmd.summary(res)["written"] == 6
  assert os.path.join(wd, "render", "001_sharp.png") in res["files"]
  # The focus pull's range in world units, like `focus`: near to far, around the learned focus.
  lo, hi = res["focus_pull_range"]
  assert 0 < lo < hi and "focus_pull" not in res
  with pytest.raises(ValueError, match="no such view"):
    renders.render(wd, view="nope", progress=False)


def test_refocus_at_zero_aperture_is_the_sharp_render():
  rng = np.random.default_rng(0)
  m = 3
  rgb = rng.uniform(0, 1, (10 + 2 * m, 12 + 2 * m, 3)).astype(np.float32)
  depth = rng.uniform(1, 5, rgb.shape[:2]).astype(np.float32)
  out = refocus(rgb, depth, focus=2.0, kappa=0.0, margin=m)
  np.testing.assert_allclose(out, rgb[m:-m, m:-m], atol=1e-6)
  # Everything at the focus distance stays sharp whatever the aperture.
  out = refocus(rgb, np.full_like(depth, 2.0), focus=2.0, kappa=50.0, margin=m)
  np.testing.assert_allclose(out, rgb[m:-m, m:-m], atol=1e-6)


def test_render_orbit_path(tiny_run):
  tiny_run = tiny_run[0]
  res = renders.render_path(tiny_run, "orbit", frames=3, progress=False)
  folder = os.path.join(tiny_run, "render", "orbit")
  assert sorted(os.listdir(folder)) == [f"{k}_{i:04d}.png" for k in ("depth", "frame")
                                        for i in range(3)]
  assert res["frames"] == 3 and len(res["files"]) == 6 + video.can_write_video()
  mp4 = os.path.join(tiny_run, "render", "orbit.mp4")
  assert sorted(res["files"]) == sorted(_written(folder) + [mp4] * os.path.isfile(mp4))
  assert (res["video"] == mp4 and os.path.isfile(mp4)) == video.can_write_video()
  with pytest.raises(ValueError, match="unknown path"):
    renders.render_path(tiny_run, "zigzag", progress=False)
