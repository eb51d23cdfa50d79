"""Flag parsing for the commands: a bad flag or config override is one `error: ...` line and exit
status 1, never a traceback or a usage dump; `--help` prints the command's docstring, the configs,
the main config keys and the flags, and exits 0; `~` in path flags is the home folder. Use as
`app.run(main, flags_parser=cli.flags_parser(__doc__))`. Outputs are checked before any setup
(`require_output`).
"""
import ast
import difflib
import functools
import os
import re
import sys

from absl import flags, logging
from ml_collections.config_flags import config_path

from macro_nerf import config_check, config_files, parallel
from macro_nerf.errors import Error, OutputError, one_line

# Flags that name files or folders: `--workdir=~/wd` is expanded (the shell leaves `~` after `=`).
PATH_FLAGS = ("workdir", "output", "sweep", "data_dir", "sparse", "config") + tuple(
    "config." + k for k in config_check.PATH_KEYS)
HELP_FLAGS = {"-h": "short", "-?": "short", "--help": "short", "-help": "short",
              "--helpshort": "short", "-helpshort": "short", "--helpfull": "full",
              "-helpfull": "full", "--helpxml": "xml", "-helpxml": "xml"}
MAIN_KEYS = (
    ("data.path", "scene folder (poses_bounds.npy, transforms.json or sparse/0), or tfds:SPLIT;"
                  "\nmacro_nerf.tools.colmap makes one from a folder of photos"),
    ("data.image_dir", "the photos' folder inside it (default images)"),
    ("data.factor", "downsample the photos by this integer (images_N/ is made once)"),
    ("data.llffhold", "every N-th view is held out to test (0: none)"),
    ("data.eval_sharp_dir", "sharp versions of the training photos, only to score deblurring"),
    ("defocus.enabled", "learn the lens blur; False trains the naive baseline"),
    ("train.max_steps", "training steps"),
    ("train.batch_size", "rays per step per device"),
    ("seed", "random seed"),
)


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


def expand_user_args(argv):
  """argv with `~` expanded in path flags' values (PATH_FLAGS, `--flag=~/x`) and in arguments of
  their own (positional ones, `--flag ~/x`), up to a `--`."""
  out = list(argv)
  for i in range(1, len(out)):
    a = out[i]
    if a == "--":
      break
    m = re.match(r"^-{1,2}([\w.]+)=(~.*)$", a)
    if m and m.group(1) in PATH_FLAGS:
      out[i] = f"{a.split('=', 1)[0]}={os.path.expanduser(m.group(2))}"
    elif a.startswith("~"):  # a positional argument or a separate flag value
      out[i] = os.path.expanduser(a)
  return out


def _config_docs():
  """(name, first docstring line) of every shipped config."""
  out = []
  for n in config_files.names():
    try:
      with open(os.path.join(config_files.config_dir(), n + ".py")) as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    except (OSError, SyntaxError):
      doc = ""
    out.append((n, doc.split("\n")[0]))
  return out


def config_help():
  """The configs and the main keys, for --help of the commands that take --config."""
  lines = ["Configs (--config=NAME, or the path of a config file):"]
  lines += [f"  {n:<10} {d}" for n, d in _config_docs() if n != "base"]
  lines += ["", "Main keys (--config.KEY=VALUE; every key with its default: configs/base.py):"]
  lines += [f"  {k:<21} {d}".replace("\n", "\n" + " " * 24) for k, d in MAIN_KEYS]
  return "\n".join(lines)


def help_text(doc, full=False):
  """The command's docstring, the configs and main keys when it takes --config, and its flags
  (all of absl's too when `full`)."""
  doc = (doc or f"USAGE: {os.path.basename(sys.argv[0])} [flags]").strip()
  parts = [doc]
  if "config" in flags.FLAGS:
    parts.append(config_help())
  if full:
    parts.append(flags.FLAGS.get_help())
  else:
    own = [m for m in sorted(flags.FLAGS.flags_by_module_dict())  # not absl's, orbax's...
           if m.startswith("macro_nerf") or (m.endswith(".py") and "macro_nerf" in m)]
    parts.append("flags:\n\n" + "\n\n".join(flags.FLAGS.module_help(m).strip() for m in own)
                 + "\n\nTry --helpfull to get a list of all flags.")
  return "\n\n".join(parts) + "\n"


def _help_requested(argv):
  for a in argv[1:]:
    if a == "--":
      return None
    if a in HELP_FLAGS:
      return HELP_FLAGS[a]
  return None


def flags_parser(doc):
  """app.run's flags_parser for a command whose --help shows `doc` (its module docstring)."""
  return functools.partial(parse_flags, doc=doc)


def parse_flags(argv, doc=None):
  """absl's FLAGS(argv), with every failure turned into one `error:` line on stderr, `--help`
  answered with exit status 0 (absl's own exits 1) and `~` expanded in path flags."""
  kind = _help_requested(argv)
  if kind == "xml":
    flags.FLAGS.write_help_in_xml_format(sys.stdout)
    sys.exit(0)
  if kind:
    main_doc = getattr(sys.modules.get("__main__"), "__doc__", None)
    sys.stdout.write(help_text(doc or main_doc, full=kind == "full"))
    sys.exit(0)
  argv = expand_user_args(resolve_config_args(argv))
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


def _writable(folder):
  return os.access(folder, os.W_OK | os.X_OK)


def output_problem(path, kind="dir"):
  """Why `path` cannot be written as a folder (kind "dir", made when missing) or as a file (kind
  "file", its folder made when missing); None when it can. Nothing is created."""
  path = os.path.abspath(path)
  if kind == "file":
    if os.path.isdir(path):
      return "is a folder, not a file"
    if os.path.exists(path) and not os.access(path, os.W_OK):
      return "file is not writable"
    folder = os.path.dirname(path)
    parent = output_problem(folder, "dir")
    return f"cannot be written: {folder} {parent}" if parent else None
  if os.path.exists(path):
    if not os.path.isdir(path):
      return "is a file, not a folder"
    return None if _writable(path) else "folder is not writable"
  up = os.path.dirname(path)
  while not os.path.exists(up) and os.path.dirname(up) != up:
    up = os.path.dirname(up)
  if not os.path.isdir(up):
    return f"cannot be created: {up} is a file, not a folder"
  return None if _writable(up) else f"cannot be created: {up} is not writable"


def check_output(path, flag, kind="dir"):
  """Raises an OutputError (`PATH: problem (--flag)`) unless `path` can be written."""
  problem = output_problem(path, kind)
  if problem:
    raise OutputError(f"{path}: {problem} ({flag})")


def exit_on_error(fn, *args, **kwargs):
  """fn(*args, **kwargs); an Error becomes one `error:` line and exit status 1 (for the checks that
  come before any setup)."""
  try:
    return fn(*args, **kwargs)
  except Error as e:
    sys.exit(f"error: {one_line(e)}")


def require_output(path, flag, kind="dir"):
  """check_output, as one `error:` line and exit status 1."""
  exit_on_error(check_output, path, flag, kind)


def run_or_exit(fn, *args, **kwargs):
  """fn(*args, **kwargs) after joining a multi-process run (parallel.py's flags); bad input (an
  Error, FileNotFoundError or ValueError) becomes one `error:` line and exit status 1."""
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  try:
    parallel.initialize_from_flags()
    return fn(*args, **kwargs)
  except (Error, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {one_line(e)}")
