"""Flag parsing for the commands: a bad flag or config override is one `error: ...` line and exit
status 1, never a traceback or a usage dump. Use as `app.run(main, flags_parser=cli.parse_flags)`.
"""
import difflib
import os
import re
import sys

from absl import flags, logging
from ml_collections.config_flags import config_path

from macro_nerf import config_files, parallel
from macro_nerf.errors import Error, one_line


def _config_overrides(argv, name="config"):
  """Field paths of `--config.a.b=v` (and `--noconfig.a.b`) arguments, in order."""
  pattern = re.compile(r"-{1,2}(no)?" + re.escape(name) + r"\.")
  return [a.split("=", 1)[0].split(".", 1)[1] for a in argv[1:] if pattern.match(a)]


def config_file_arg(argv, name="config"):
  """The value of --config in argv (None when absent)."""
  for i, a in enumerate(argv):
    if re.match(r"^-{1,2}" + re.escape(name) + "=", a):
      return a.split("=", 1)[1]
    if re.match(r"^-{1,2}" + re.escape(name) + "$", a) and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _flat_keys(config, prefix=""):
  keys = []
  for k, v in config.items():
    keys.append(prefix + k)
    if hasattr(v, "items"):
      keys += _flat_keys(v, f"{prefix}{k}.")
  return keys


def _is_error_config(value):
  return type(value).__name__ == "_ErrorConfig"  # config_flags' stand-in for a failed load


def _load_config(argv, name="config"):
  """(path, config, error) of the config file named in argv; config None when it does not load."""
  path = config_file_arg(argv, name)
  if path is None or name not in flags.FLAGS:
    return path, None, None
  try:
    config = flags.FLAGS[name].parser.parse(path)
  except Exception as e:  # pylint: disable=broad-except
    return path, None, e
  if _is_error_config(config):
    return path, None, object.__getattribute__(config, "_error")
  return path, config, None


def config_file_error(argv, name="config"):
  """A one-line message when the config file named in argv cannot be loaded, else None."""
  path, config, err = _load_config(argv, name)
  if path is None or config is not None:
    return None
  file = path.split(":", 1)[0]
  if not os.path.isfile(file):
    return f"config file {file} does not exist"
  text = one_line(err).split(" Traceback (most recent call last):")[0]  # config_flags adds one
  return f"cannot load config file {path} ({type(err).__name__}: {text})"


def unknown_config_key(argv, name="config"):
  """The first `--config.KEY` override whose KEY the config file does not have, as (key, config
  file, closest existing key or None); None when every key exists or the file does not load."""
  path, config, _ = _load_config(argv, name)
  if config is None:
    return None
  for key in _config_overrides(argv, name):
    try:
      config_path.get_value(key, config)
    except Exception:  # pylint: disable=broad-except  (AttributeError, KeyError, IndexError...)
      close = difflib.get_close_matches(key, _flat_keys(config), n=1)
      return key, path, close[0] if close else None
  return None


def resolve_config_args(argv, name="config"):
  """argv with the value of --config (a short name, a path from any working directory, or a
  repository-relative path like configs/llff.py) replaced by the config file's path."""
  out = list(argv)
  for i, a in enumerate(out):
    m = re.match(r"^(-{1,2}" + re.escape(name) + ")=(.*)$", a)
    if m:
      out[i] = f"{m.group(1)}={config_files.resolve(m.group(2))}"
    elif re.match(r"^-{1,2}" + re.escape(name) + "$", a) and i + 1 < len(out):
      out[i + 1] = config_files.resolve(out[i + 1])
  return out


def parse_flags(argv):
  """absl's FLAGS(argv), with every failure turned into one `error:` line on stderr."""
  argv = resolve_config_args(argv)
  try:
    args = flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except  (flags.Error, and config_flags' own)
    msg = config_file_error(argv)
    unknown = None if msg else unknown_config_key(argv)
    if unknown is not None:
      key, path, close = unknown
      hint = f"; did you mean '{close}'?" if close else ""
      msg = f"unknown config key '{key}' (not a field of {path}{hint})"
    sys.exit(f"error: {msg or one_line(e)}")
  # config_flags defers a config file that failed to load until its first use: report it now.
  if "config" in flags.FLAGS and _is_error_config(flags.FLAGS["config"].value):
    sys.exit(f"error: {config_file_error(argv) or 'cannot load the config file'}")
  return args


def run_or_exit(fn, *args, **kwargs):
  """fn(*args, **kwargs) after joining a multi-process run (parallel.py's flags); bad input (an
  Error, FileNotFoundError or ValueError) becomes one `error:` line and exit status 1."""
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  try:
    parallel.initialize_from_flags()
    return fn(*args, **kwargs)
  except (Error, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {one_line(e)}")
