"""Where the experiment configs live, and `--config` values from any working directory.

The configs are Python files with get_config() in the repository's top-level `configs/` folder
(installed as `macro_nerf/_configs` by a non-editable install). `--config` takes a short name
(`llff`, `object`, `demo`, ...), a path, or a path like `configs/llff.py` written relative to the
repository from anywhere else.
"""
import importlib.util
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def config_dir():
  """The folder of the shipped configs: the checkout's configs/, else the installed copy."""
  repo = os.path.join(os.path.dirname(_HERE), "configs")
  if os.path.isfile(os.path.join(repo, "base.py")):
    return repo
  return os.path.join(_HERE, "_configs")


def names():
  """Short names of the shipped configs (file stems), base first."""
  stems = sorted(f[:-3] for f in os.listdir(config_dir())
                 if f.endswith(".py") and not f.startswith("_"))
  return sorted(stems, key=lambda s: s != "base")


def resolve(value):
  """A --config value (optionally with config_flags' `:arg` suffix) -> an existing file path, or
  the value unchanged when nothing matches (the flag then reports the missing file)."""
  path, sep, arg = value.partition(":")
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    stem = os.path.basename(path)
    stem = stem[:-3] if stem.endswith(".py") else stem
    shipped = os.path.join(config_dir(), stem + ".py")
    parent = os.path.basename(os.path.dirname(os.path.normpath(path)))
    if os.path.isfile(shipped) and (path in (stem, stem + ".py") or parent == "configs"):
      path = shipped
  return path + sep + arg


def load(name):
  """The ConfigDict of a shipped config (`base`, `llff`, ...) or of a config file path."""
  path = resolve(name)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"config file {name} does not exist (shipped: {', '.join(names())})")
  spec = importlib.util.spec_from_file_location(
      f"macro_nerf_config_{os.path.splitext(os.path.basename(path))[0]}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def base_config():
  """The defaults every config starts from (configs/base.py)."""
  return load("base")
