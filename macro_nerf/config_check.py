"""Config values checked before anything is read or written.

A value that cannot work would otherwise misbehave silently or late: `train.max_steps=-5` leaves
an empty checkpoints/ folder, `train.batch_size=0` a NaN loss on every step, `data.factor=0`
trains at full resolution, `defocus.margin=0` no blur at all. `check(config)` raises one
ConfigError naming the key and the value; keys a config does not have are skipped.
"""
import math
import os

from macro_nerf.errors import ConfigError
from macro_nerf.nerf.warp import WARPS

_MISSING = object()


def _is_int(v):
  return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def integer(lo, hi=None):
  """A rule: an integer >= lo (and <= hi)."""
  def rule(v):
    if not _is_int(v):
      return "must be an integer"
    if v < lo or (hi is not None and v > hi):
      return f"must be >= {lo}" if hi is None else f"must be between {lo} and {hi}"
    return None
  return rule


def number(lo=None, hi=None, above=None):
  """A rule: a finite number >= lo, <= hi, > above (each when given)."""
  def rule(v):
    if not _is_number(v):
      return "must be a finite number"
    if above is not None and v <= above:
      return f"must be > {above}"
    if lo is not None and v < lo:
      return f"must be >= {lo}"
    if hi is not None and v > hi:
      return f"must be <= {hi}"
    return None
  return rule


def integers(lo):
  """A rule: a list or tuple of integers, each >= lo."""
  def rule(v):
    if not isinstance(v, (list, tuple)) or not all(_is_int(x) for x in v):
      return "must be a tuple of integers"
    return None if all(x >= lo for x in v) else f"every entry must be >= {lo}"
  return rule


def choice(options):
  def rule(v):
    return None if v in options else f"must be one of {', '.join(map(repr, options))}"
  return rule


def name(v):
  return None if isinstance(v, str) and v.strip() else "must name a folder"


def colour(v):
  ok = (isinstance(v, (list, tuple)) and len(v) == 3
        and all(_is_number(x) and 0 <= x <= 1 for x in v))
  return None if ok else "must be three numbers in [0, 1]"


POSITIVE = number(above=0)
NON_NEGATIVE = number(lo=0)
FRACTION = number(lo=0, hi=1)
COUNT = integer(1)  # steps, sizes, samples: at least one
OFF_OR_COUNT = integer(0)  # 0 switches the feature off

RULES = {
    "seed": integer(0),  # numpy's step generators refuse negative seeds
    "data.image_dir": name, "data.factor": COUNT, "data.llffhold": OFF_OR_COUNT,
    "data.box_padding": NON_NEGATIVE,
    "model.prop_samples": integers(1), "model.nerf_samples": COUNT,
    "model.prop_log2_table_size": integer(1, 30), "model.log2_table_size": integer(1, 30),
    "model.prop_max_resolution": COUNT, "model.max_resolution": COUNT, "model.num_levels": COUNT,
    "model.width": COUNT, "model.background": colour, "model.warp": choice(WARPS),
    "defocus.patch_size": COUNT, "defocus.margin": OFF_OR_COUNT, "defocus.softness": POSITIVE,
    "defocus.warmup_steps": OFF_OR_COUNT, "defocus.warmup_fraction": number(above=0, hi=1),
    "defocus.patch_every": OFF_OR_COUNT,
    "defocus.focus_weight_radius": POSITIVE, "defocus.focus_weight_power": POSITIVE,
    "defocus.focus_weight_floor": FRACTION, "defocus.blur_ramp_steps": OFF_OR_COUNT,
    "defocus.init_radius_px": POSITIVE, "defocus.lens_lr_init": POSITIVE,
    "defocus.lens_lr_final": POSITIVE, "defocus.residual_width": COUNT,
    "defocus.residual_embed": OFF_OR_COUNT, "defocus.residual_weight": NON_NEGATIVE,
    "train.max_steps": COUNT, "train.batch_size": COUNT, "train.lr_init": POSITIVE,
    "train.lr_final": POSITIVE, "train.warmup_steps": OFF_OR_COUNT, "train.grad_clip": POSITIVE,
    "train.interlevel_weight": NON_NEGATIVE, "train.distortion_weight": NON_NEGATIVE,
    "train.log_every": COUNT, "train.checkpoint_every": COUNT, "train.keep_checkpoints": COUNT,
    "train.max_bad_steps": COUNT, "train.pose_lr_init": POSITIVE, "train.pose_lr_final": POSITIVE,
    "prior.depth_smooth.weight": NON_NEGATIVE, "prior.depth_smooth.patches": COUNT,
    "prior.depth_smooth.size": integer(3),  # second differences need three pixels
    "prior.support_plane.weight": NON_NEGATIVE, "prior.support_plane.start": OFF_OR_COUNT,
    "prior.support_plane.margin": NON_NEGATIVE, "prior.support_plane.ramp": POSITIVE,
    "prior.support_plane.refit_every": OFF_OR_COUNT, "prior.support_plane.stop": OFF_OR_COUNT,
    "prior.support_plane.min_fraction": FRACTION,
    "eval.chunk": COUNT,
}

PATH_KEYS = ("data.path", "data.tfds_data_dir")  # `~` expanded (expand_paths)


def get(config, key):
  """config's value at a dotted key; _MISSING when it has no such key."""
  node = config
  for part in key.split("."):
    try:
      node = node[part]
    except (KeyError, TypeError, AttributeError):
      return _MISSING
  return node


def _show(v):
  return repr(v) if isinstance(v, str) else str(v)


def _together(config):
  """(key, value, problem) of values that are fine alone but not with the others."""
  g = lambda k: get(config, k)
  out = []
  if g("data.llffhold") == 1:
    out.append(("data.llffhold", 1, "must be 0 (no held-out views) or >= 2 (1 holds out every "
                                    "view and leaves none to train on)"))
  margin, soft = g("defocus.margin"), g("defocus.softness")
  if (g("defocus.enabled") is True and _is_number(margin) and _is_number(soft) and soft > 0
      and margin - soft / 2 <= 0):
    out.append(("defocus.margin", margin, f"must be > defocus.softness / 2 = {soft / 2:g} (the "
                                          "largest blur radius is margin - softness / 2)"))
  start, stop = g("prior.support_plane.start"), g("prior.support_plane.stop")
  weight = g("prior.support_plane.weight")
  if (_is_number(weight) and weight > 0 and _is_int(start) and _is_int(stop)
      and 0 < stop <= start):
    out.append(("prior.support_plane.stop", stop, f"must be 0 (to the end) or > "
                                                  f"prior.support_plane.start = {start}"))
  return out


def problems(config):
  """Every (key, value, problem) of the config, in RULES order, then the combined checks."""
  out = []
  for key, rule in RULES.items():
    v = get(config, key)
    if v is _MISSING:
      continue
    p = rule(v)
    if p:
      out.append((key, v, p))
  return out + _together(config)


def message(key, value, problem):
  return f"config {key} = {_show(value)}: {problem}"


def check(config):
  """Raises a ConfigError for the first bad value: `config train.max_steps = -5: must be >= 1`."""
  bad = problems(config)
  if bad:
    raise ConfigError(message(*bad[0]))


def expand_paths(config):
  """`~` in data.path and data.tfds_data_dir made the home folder (in place)."""
  for key in PATH_KEYS:
    v = get(config, key)
    if isinstance(v, str) and v.startswith("~"):
      group, leaf = key.rsplit(".", 1)
      get(config, group)[leaf] = os.path.expanduser(v)
  return config
