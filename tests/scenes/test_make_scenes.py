"""experiments/make_scenes.py: the scene set covers what development needs, the index is written
and complete scenes are skipped."""
import importlib.util
import json
import os

import pytest

from helpers import REPO
from macro_nerf.scenes import variants


def _module():
  spec = importlib.util.spec_from_file_location(
      "make_scenes", os.path.join(REPO, "experiments", "make_scenes.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def test_the_set_covers_the_development_needs():
  r = {n: e["render"] for n, e in variants.DEV_SCENES.items()}
  s = {n: e["scene"] for n, e in variants.DEV_SCENES.items()}
  assert len(r) >= 6
  assert {v["layout"] for v in r.values()} == {"forward", "orbit"}
  assert any(28 <= v["num_views"] <= 32 for v in r.values())
  assert any(8 <= v["num_views"] <= 10 for v in r.values())
  assert any(v.get("backdrop_radius") for v in s.values())
  assert any(v.get("texture_scale") for v in s.values())
  assert 8 <= max(v["blur_px"][1] for v in r.values()) <= 12
  assert {v["noise_std"] for v in r.values()} == {0.003, 0.015}
  for e in variants.DEV_SCENES.values():
    json.dumps(e)  # the index holds them
    assert e["about"] and e["covers"]


def test_writes_the_index_and_skips_complete_scenes(tmp_path, capsys):
  mod = _module()
  out = tmp_path / "cache"
  argv = ["--out", str(out), "--only", "fwd_far_lo", "--views", "4", "--width", "24",
          "--height", "18", "--lens_samples", "2", "--workers", "1"]
  done = mod.main(argv)
  assert list(done) == ["fwd_far_lo_v4"]
  scene = out / "fwd_far_lo_v4"
  for f in ("images", "images_sharp", "depth", "lens.json", "object.ply", "poses_bounds.npy",
            "transforms.json"):
    assert (scene / f).exists(), f
  assert len(os.listdir(scene / "images")) == 4
  assert not [p for p in out.iterdir() if p.name.startswith(".")]
  index = json.loads((out / "scenes.json").read_text())
  entry = index["scenes"]["fwd_far_lo_v4"]
  assert entry["path"] == "fwd_far_lo_v4" and entry["num_views"] == 4
  assert entry["noise_std"] == 0.003 and entry["held_out"] == ["000.png"]
  assert entry["blur"]["blur_px_min_backdrop"] > 0 and entry["blur"]["backdrop_fraction"] > 0
  assert json.loads((scene / "lens.json").read_text())["noise_std"] == 0.003

  mtime = (scene / "lens.json").stat().st_mtime_ns
  capsys.readouterr()
  mod.main(argv)
  assert "complete, skipped" in capsys.readouterr().out
  assert (scene / "lens.json").stat().st_mtime_ns == mtime

  # Other settings for the same name: an error, not a silent mix.
  with pytest.raises(SystemExit):
    mod.main(argv[:-4] + ["--lens_samples", "3", "--workers", "1"])
  # An override with its own suffix lands beside it; the index keeps both.
  mod.main(argv + ["--noise", "0.008", "--suffix", "_n008"])
  index = json.loads((out / "scenes.json").read_text())
  assert set(index["scenes"]) == {"fwd_far_lo_v4", "fwd_far_lo_n008"}
  assert json.loads((out / "fwd_far_lo_n008" / "lens.json").read_text())["noise_std"] == 0.008
  with pytest.raises(SystemExit):
    mod.main(["--out", str(out), "--only", "no_such_scene"])
