"""Configs by short name or path from any working directory; old workdirs' configs still load."""
import json
import os

import pytest

from macro_nerf import cli, config_files
from macro_nerf.training import workdir


def test_short_names_and_paths_resolve_to_the_shipped_files(tmp_path, monkeypatch):
  llff = os.path.join(config_files.config_dir(), "llff.py")
  monkeypatch.chdir(tmp_path)  # not the repository
  for value in ("llff", "llff.py", "configs/llff.py", llff):
    assert config_files.resolve(value) == llff
  assert config_files.resolve("llff:arg") == llff + ":arg"
  mine = tmp_path / "mine.py"
  mine.write_text("from macro_nerf.config_files import load\n\n\ndef get_config():\n"
                  "  c = load('object')\n  c.seed = 7\n  return c\n")
  assert config_files.resolve("mine.py") == "mine.py"  # a file of the user's wins
  assert config_files.load(str(mine)).seed == 7
  assert config_files.resolve("nope") == "nope"
  with pytest.raises(FileNotFoundError, match="config file nope does not exist"):
    config_files.load("nope")
  assert {"base", "llff", "object", "demo"} <= set(config_files.names())
  args = cli.resolve_config_args(["x", "--config=object", "--config.seed=3", "--workdir=w"])
  assert args == ["x", f"--config={config_files.resolve('object')}", "--config.seed=3",
                  "--workdir=w"]
  assert cli.resolve_config_args(["x", "--config", "demo"])[2].endswith("demo.py")


def test_every_shipped_config_loads_with_grouped_priors():
  for name in config_files.names():
    c = config_files.load(name)
    assert set(c.prior) == {"depth_smooth", "support_plane"}
    assert not any(k.startswith(("depth_smooth", "support_plane")) for k in c.train)


def test_a_config_written_with_the_old_prior_keys_loads_with_the_new(tmp_path):
  old = json.loads(config_files.load("llff").to_json())
  patches = old["prior"]["depth_smooth"]["patches"]
  del old["prior"]
  old["train"].update(depth_smooth_weight=0.05, depth_smooth_patches=patches, depth_smooth_size=8,
                      support_plane_weight=0.002, support_plane_step=1000,
                      support_plane_margin=0.005, support_plane_ramp=0.01)
  (tmp_path / "config.json").write_text(json.dumps(old))
  c = workdir.load_config(str(tmp_path))
  assert c.prior.depth_smooth.weight == 0.05 and c.prior.support_plane.weight == 0.002
  assert c.prior.support_plane.start == 1000
  assert c.prior.support_plane.stop == 2000  # not in the old file: today's default
  assert "depth_smooth_weight" not in c.train
  # The same experiment as today's config with the same values: a resume is allowed.
  new = config_files.load("llff")
  new.prior.support_plane.weight = 0.002
  workdir.check_workdir(new, str(tmp_path))
