"""Bad command-line input is refused before any setup with one `error:` line naming the key or the
path, and nothing is written; `~` is the home folder; every --help exits 0."""
import os
import subprocess
import sys

import pytest

from macro_nerf import cli, config_check, config_files
from macro_nerf.errors import ConfigError, OutputError, SweepError
from macro_nerf.training import sweep as sweep_lib

ENV = dict(os.environ, JAX_PLATFORMS="cpu")


def _tree(root):
  return sorted(os.path.relpath(os.path.join(d, n), root)
                for d, dirs, files in os.walk(root) for n in dirs + files)


def _set(config, values):
  """config with {"train.max_steps": -5, ...} set, types unchecked (as a sweep file can)."""
  return sweep_lib.merged(config, values)


# ------------------------------------------------------------------------------------------------
# Config values


@pytest.mark.parametrize("key,value,problem", [
    ("train.max_steps", -5, "must be >= 1"),
    ("train.max_steps", 0, "must be >= 1"),
    ("train.batch_size", 0, "must be >= 1"),
    ("data.factor", 0, "must be >= 1"),
    ("data.factor", -2, "must be >= 1"),
    ("data.factor", 1.5, "must be an integer"),
    ("data.llffhold", -1, "must be >= 0"),
    ("data.llffhold", 1, "leaves none to train on"),
    ("train.lr_init", 0.0, "must be > 0"),
    ("train.lr_final", -1e-3, "must be > 0"),
    ("train.lr_init", float("nan"), "must be a finite number"),
    ("train.grad_clip", 0.0, "must be > 0"),
    ("train.log_every", 0, "must be >= 1"),
    ("train.checkpoint_every", 0, "must be >= 1"),
    ("model.nerf_samples", 0, "must be >= 1"),
    ("model.prop_samples", (64, 0), "every entry must be >= 1"),
    ("model.log2_table_size", 40, "must be between 1 and 30"),
    ("model.warp", "sphere", "must be one of 'box', 'ndc'"),
    ("model.background", (0.0, 2.0, 0.0), "three numbers in [0, 1]"),
    ("defocus.patch_size", 0, "must be >= 1"),
    ("defocus.softness", 0.0, "must be > 0"),
    ("defocus.focus_weight_floor", 1.5, "must be <= 1"),
    ("data.image_dir", "", "must name a folder"),
    ("seed", -1, "must be >= 0"),
    ("eval.chunk", 0, "must be >= 1"),
    ("prior.depth_smooth.size", 2, "must be >= 3"),
])
def test_nonsense_config_values_are_refused_by_key_and_value(key, value, problem):
  c = _set(config_files.load("llff"), {key: value})
  with pytest.raises(ConfigError) as e:
    config_check.check(c)
  msg = str(e.value)
  assert msg == f"config {key} = {value!r}: {problem}" or (
      msg.startswith(f"config {key} = ") and problem in msg), msg


def test_values_that_only_fail_together():
  c = _set(config_files.load("llff"), {"defocus.enabled": True, "defocus.margin": 0})
  assert config_check.problems(c)[0][:2] == ("defocus.margin", 0)
  c = _set(config_files.load("llff"), {"defocus.enabled": False, "defocus.margin": 0})
  assert not config_check.problems(c)  # no blur to fit in the margin
  c = _set(config_files.load("tabletop"), {"prior.support_plane.stop": 500})
  assert config_check.problems(c)[0][:2] == ("prior.support_plane.stop", 500)


def test_every_shipped_config_passes():
  for name in config_files.names():
    assert config_check.problems(config_files.load(name)) == [], name


def test_a_sweep_run_with_a_bad_value_is_refused_before_anything_runs(tmp_path):
  sweep_file = tmp_path / "s.py"
  sweep_file.write_text("def get_sweep():\n  return [{'train.max_steps': 10}, "
                        "{'train.max_steps': -5}]\n")
  config = config_files.load("llff")
  with pytest.raises(SweepError) as e:
    sweep_lib.sweep("llff", str(sweep_file), str(tmp_path / "root"), config=config,
                    progress=False)
  assert str(e.value) == (f"{sweep_file}: run 001_max_steps=-5: config train.max_steps = -5: "
                          "must be >= 1")
  assert not os.path.exists(tmp_path / "root")


def test_paths_in_the_config_expand_home(monkeypatch, tmp_path):
  monkeypatch.setenv("HOME", str(tmp_path))
  c = config_files.load("llff")
  c.data.path = "~/scene"
  assert config_check.expand_paths(c).data.path == str(tmp_path / "scene")


# ------------------------------------------------------------------------------------------------
# Outputs and paths


def test_output_problems(tmp_path, monkeypatch):
  f = tmp_path / "file"
  f.write_text("")
  (tmp_path / "dir").mkdir()
  assert cli.output_problem(str(f)) == "is a file, not a folder"
  assert cli.output_problem(str(f / "wd")) == f"cannot be created: {f} is a file, not a folder"
  assert cli.output_problem(str(tmp_path / "new" / "deeper")) is None
  assert cli.output_problem(str(tmp_path / "dir")) is None
  assert cli.output_problem(str(tmp_path / "dir"), "file") == "is a folder, not a file"
  assert cli.output_problem(str(f / "m.ply"), "file") == (
      f"cannot be written: {f} is a file, not a folder")
  assert cli.output_problem(str(tmp_path / "new" / "m.ply"), "file") is None
  # Root passes permission checks; a folder the user may not write is simulated.
  ro = str(tmp_path / "dir")
  real = os.access
  monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == ro else real(p, m))
  assert cli.output_problem(ro) == "folder is not writable"
  assert cli.output_problem(os.path.join(ro, "wd")) == f"cannot be created: {ro} is not writable"
  with pytest.raises(OutputError, match=r"wd: cannot be created: .* \(--workdir\)$"):
    cli.check_output(os.path.join(ro, "wd"), "--workdir")
  assert _tree(tmp_path) == ["dir", "file"]


def test_home_is_expanded_in_path_flags(monkeypatch):
  monkeypatch.setenv("HOME", "/home/u")
  argv = ["prog", "--workdir=~/wd", "--output=~/m.ply", "--config.data.path=~/s", "~/photos",
          "--view=~x", "--data_dir", "~/d", "--", "~/after"]
  assert cli.expand_user_args(argv) == [
      "prog", "--workdir=/home/u/wd", "--output=/home/u/m.ply", "--config.data.path=/home/u/s",
      "/home/u/photos", "--view=~x", "--data_dir", "/home/u/d", "--", "~/after"]


# ------------------------------------------------------------------------------------------------
# The commands themselves


def _run(cwd, *args, home=None):
  env = dict(ENV, HOME=str(home)) if home else ENV
  return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                        env=env)


def _one_line(r):
  assert r.returncode != 0
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
  return lines[0]


def test_train_refuses_bad_values_and_workdirs_writing_nothing(tmp_path):
  (tmp_path / "file").write_text("")
  scene = tmp_path / "scene"  # never read: the checks come first
  line = _one_line(_run(tmp_path, "macro_nerf.train", "--config=llff", "--workdir=~/wd",
                        f"--config.data.path={scene}", "--config.train.max_steps=-5",
                        home=tmp_path / "home"))
  assert line == "error: config train.max_steps = -5: must be >= 1"
  line = _one_line(_run(tmp_path, "macro_nerf.train", "--config=llff", "--workdir=file/wd",
                        f"--config.data.path={scene}"))
  assert line == (f"error: file/wd: cannot be created: {tmp_path / 'file'} is a file, not a "
                  "folder (--workdir)")
  # `~` is the home folder: the scene is looked for there, and no ./~ is made.
  line = _one_line(_run(tmp_path, "macro_nerf.train", "--config=llff", "--workdir=~/wd",
                        "--config.data.path=~/scene", home=tmp_path / "home"))
  assert line == f"error: {tmp_path / 'home' / 'scene'}: scene folder does not exist"
  assert _tree(tmp_path) == ["file"]


def test_every_help_exits_0_and_lists_the_configs(tmp_path):
  runs = [("train", "--help"), ("eval", "--help"), ("render", "--help"), ("export_mesh", "-h"),
          ("sweep", "--help"), ("tools.colmap", "--help"), ("tools.tfds_pack", "--help"),
          ("eval", "--helpfull")]
  procs = [(c, a, subprocess.Popen([sys.executable, "-m", f"macro_nerf.{c}", a], cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=ENV)) for c, a in runs]
  for c, a, p in procs:
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, (c, a, err)
    assert f"macro_nerf.{c}" in out, (c, a)
    assert any(f in out for f in ("--workdir", "--output", "--data_dir")), (c, a)
    assert "Traceback" not in err, (c, a, err)
    if c in ("train", "sweep"):
      for name in ("llff", "object", "demo", "tabletop", "data.path", "train.max_steps",
                   "defocus.enabled"):
        assert name in out, (c, name)
    assert "PSNR" not in out and " dB" not in out, c  # no benchmark prose
  assert os.listdir(tmp_path) == []
