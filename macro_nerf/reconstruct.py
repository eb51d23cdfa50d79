"""Photos in, results out: python -m macro_nerf.reconstruct PHOTOS --output OUT
[--config=NAME] [--config.KEY=VALUE ...]; `--example` instead of PHOTOS runs it on the built-in
example (the demo's synthetic focus bracket, scored against its sharp truth).

PHOTOS is a folder of photos (JPEG, PNG or TIFF, any orientation) or a scene folder the loaders
read (poses_bounds.npy, transforms.json or sparse/0). In order, each stage resumable:
  poses     structure-from-motion (pycolmap) when the photos have no poses -> OUT/scene
  layout    forward-facing (configs/llff.py) or all around (configs/object.py), from the cameras,
            unless --config is given; photos over 1024 px are trained at a data.factor that
            brings them under it, unless --config.data.factor is given
  train     defocus on, every photo trained on (data.llffhold=0) -> OUT/run
  evaluate  every photo rendered all-in-focus, with its depth -> OUT/run/eval
  photos    OUT/all_in_focus/<photo>.png at the photo's own size, OUT/depth/<photo>.png and .npy
  lens      OUT/lens.json: the learned focus distance and blur scale of every photo; OUT/coc/
  mesh      OUT/mesh.ply with colours (threshold and bounds from the run)
  report    OUT/report.html: one file to open in a browser, no network needed
Run the same command again after a kill or a crash: it continues where it stopped.
--config.data.eval_sharp_dir=DIR (sharp versions of the photos, same names) scores the results.
"""
import math
import os
import shutil
import sys
import time

import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags
from ml_collections.config_flags import config_path

from macro_nerf import cli, config_check, config_files, demo, parallel
from macro_nerf.data import colmap as colmap_model, images as images_lib, sfm
from macro_nerf.data.folders import read_folder
from macro_nerf.errors import DataError, Error, OutputError, one_line
from macro_nerf.export import photo_outputs
from macro_nerf.export.stages import Progress, finish, say
from macro_nerf.training.loop import train

MAX_SIDE = 1024  # the longest photo side trained on by default (a 2-core CPU's budget)
FORWARD_MAX_DEG = 50.0  # every camera within this of the mean view direction: forward-facing
CHECKPOINT_EVERY = 250  # a killed run loses at most this many steps
SCENE_FILES = ("poses_bounds.npy", "transforms.json", os.path.join("sparse", "0"))


def is_scene_folder(path):
  return any(os.path.exists(os.path.join(path, f)) for f in SCENE_FILES)


def choose_layout(c2w):
  """'llff' when every camera looks within FORWARD_MAX_DEG of the mean direction (a forward-facing
  capture), else 'object' (all around); with the largest angle in degrees."""
  fwd = -np.asarray(c2w, np.float64)[:, :3, 2]
  fwd /= np.linalg.norm(fwd, axis=1, keepdims=True)
  mean = fwd.mean(0)
  norm = np.linalg.norm(mean)
  if norm < 1e-6:
    return "object", 180.0
  angle = float(np.degrees(np.arccos(np.clip(fwd @ (mean / norm), -1, 1))).max())
  return ("llff" if angle <= FORWARD_MAX_DEG else "object"), angle


def auto_factor(width, height):
  """The smallest integer downsampling that brings the longest side to MAX_SIDE or less."""
  return max(1, math.ceil(max(width, height) / MAX_SIDE))


def check_inputs(photos, out, example=False, image_dir="images", factor=1):
  """Everything that can be checked before any work: the photos, the output folder. Returns
  ('scene', the cameras' OpenGL c2w (N, 3, 4)) or ('photos', None)."""
  if not os.path.isdir(photos):
    raise DataError(f"{photos}: folder does not exist")
  if not example and os.path.commonpath(
      [os.path.abspath(out), os.path.abspath(photos)]) == os.path.abspath(out):
    raise OutputError(f"{out}: the output folder may not contain the photos (--output)")
  cli.check_output(out, "--output")
  held = [e for e in os.listdir(out) if not (example and e == "example_scene")] if (
      os.path.isdir(out)) else []
  if held and not os.path.isfile(os.path.join(out, "progress.json")):
    raise OutputError(f"{out}: exists, is not empty and holds no macro_nerf results (--output)")
  if is_scene_folder(photos):
    _, c2w, *_ = read_folder(photos, image_dir, factor)  # poses and photos read and checked
    return "scene", c2w
  sfm.check_images(photos)  # every photo decodes, one size, at least 3
  colmap_model.import_pycolmap()  # structure-from-motion will need it
  return "photos", None


def build_config(name, overrides, scene_path, size):
  """configs/<name>.py with the user's overrides; the reconstruct defaults where they are silent."""
  config = config_files.load(name)
  for key, value in overrides.items():
    *group, leaf = key.split(".")
    node = config
    for g in group:
      node = node[g]
    node[leaf] = value
  config.data.path = scene_path
  defaults = {"defocus.enabled": True, "data.llffhold": 0,
              "train.checkpoint_every": min(CHECKPOINT_EVERY, config.train.checkpoint_every),
              "data.factor": auto_factor(*size)}
  for key, value in defaults.items():
    if key not in overrides:
      group, leaf = key.split(".")
      config[group][leaf] = value
  config_check.check(config)
  return config


def run(photos, out, config_name=None, overrides=None, mesh_resolution=256, argv=None,
        title=None, example=False):
  """The whole pipeline; returns the results dict (also OUT/results.json)."""
  overrides = dict(overrides or {})
  photos, out = os.path.abspath(photos), os.path.abspath(out)
  image_dir = overrides.get("data.image_dir", "images")
  kind, c2w = check_inputs(photos, out, example, image_dir, overrides.get("data.factor", 1))
  os.makedirs(out, exist_ok=True)
  progress = Progress(out, {"photos": photos, "config": config_name, "overrides": {
      k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
      "mesh_resolution": mesh_resolution})
  times = {}
  # 1. poses
  t = time.time()
  if kind == "photos":
    scene_path = os.path.join(out, "scene")
    if not progress.done("poses"):
      say(1, f"structure-from-motion on {photos}")
      if os.path.isdir(scene_path):  # left by a kill after sfm moved it in place
        shutil.rmtree(scene_path)
      report = sfm.run(photos, scene_path)
      progress.mark("poses", seconds=time.time() - t, registered=report["registered"],
                    total=report["total"], unregistered=report["unregistered"])
    photo_dir = photos
  else:
    scene_path, photo_dir = photos, None
    if not progress.done("poses"):
      say(1, f"poses: read from {photos}")
      progress.mark("poses", seconds=0.0, registered=None, total=None, unregistered=[])
  times["poses"] = progress.get("poses")["seconds"]
  # 2. layout
  photo_dir = photo_dir or os.path.join(scene_path, image_dir)
  if not progress.done("layout"):
    t = time.time()
    names = images_lib.list_images(os.path.join(scene_path, image_dir))
    size = photo_outputs.photo_size(os.path.join(scene_path, image_dir, names[0]))
    if c2w is None:  # poses just made by structure-from-motion
      factor = overrides.get("data.factor", auto_factor(*size))
      _, c2w, *_ = read_folder(scene_path, image_dir, factor)
    layout, angle = choose_layout(c2w)
    name = config_name or layout
    say(2, f"layout: cameras within {angle:.0f} degrees of their mean view -> "
         f"{'forward-facing' if layout == 'llff' else 'all around'}; config {name}")
    progress.mark("layout", seconds=time.time() - t, config=name, auto_layout=layout,
                  max_angle_deg=angle, size=list(size))
  lay = progress.get("layout")
  times["layout"] = lay["seconds"]
  config = build_config(lay["config"], overrides, scene_path, lay["size"])
  run_dir = os.path.join(out, "run")
  # 3. train (resumes from its newest checkpoint)
  if not progress.done("train"):
    say(3, f"training {config.train.max_steps} steps, defocus "
         f"{'on' if config.defocus.enabled else 'off'} -> {run_dir}")
    t = time.time()
    _, _, _, summary = train(config, run_dir)
    progress.mark("train", seconds=time.time() - t,
                  steps_per_sec=summary.get("steps_per_sec"), steps=config.train.max_steps)
  times["train"] = progress.get("train")["seconds"]
  result = finish(out, run_dir, scene_path, photo_dir, progress, times, mesh_resolution,
                  argv=argv, title=title, first_stage=4)
  return result


def overrides_from_flags(argv):
  """{key: value} of the `--config.KEY=VALUE` arguments, typed as the config file types them."""
  out = {}
  for key in cli._config_overrides(argv):  # pylint: disable=protected-access
    out[key] = config_path.get_value(key, flags.FLAGS.config)
  return out


def print_done(results):
  print("\nwrote:")
  print(f"  {results['all_in_focus']}/   every photo all-in-focus, at its own size")
  print(f"  {results['depth']}/   depth maps (.png to look at, .npy in scene units)")
  print(f"  {results['lens']}   the learned focus distance and blur scale of every photo")
  if results["mesh"]:
    print(f"  {results['mesh']}   the mesh, with colours")
  print(f"  {results['run']}/   the trained run (checkpoints; macro_nerf.render refocuses it)")
  print(f"\nopen: {results['report']}")


def example_scene(out):
  """The demo's synthetic focus bracket, rendered into OUT/example_scene (once)."""
  path = os.path.join(out, "example_scene")
  demo.make_scene(path, progress=True)
  return path


def main(argv):
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  if len(argv) != (1 if f.example else 2) or not f.output:
    sys.exit("usage: python -m macro_nerf.reconstruct PHOTOS --output OUT [--config=NAME] "
             "[--config.KEY=VALUE ...]   (or --example instead of PHOTOS)")
  out = os.path.abspath(os.path.expanduser(f.output))
  raw = [a for a in sys.argv if a != _DEFAULT_CONFIG_ARG]
  config_name = cli.config_file_arg(raw)
  overrides = overrides_from_flags(raw)
  try:
    config_check.check(f.config)  # the overrides, before any work
    cli.check_output(out, "--output")
    if f.example:
      config_name = config_name or "demo"
      overrides.setdefault("data.eval_sharp_dir", "images_sharp")
      mesh_resolution = f.mesh_resolution if f["mesh_resolution"].present else (
          demo.MESH_RESOLUTION)
      if f.overwrite and os.path.isfile(os.path.join(out, "progress.json")):
        shutil.rmtree(out)
      os.makedirs(out, exist_ok=True)
      photos = example_scene(out)
    else:
      photos, mesh_resolution = os.path.expanduser(argv[1]), f.mesh_resolution
      if f.overwrite and os.path.isfile(os.path.join(out, "progress.json")):
        check_inputs(photos, out, image_dir=overrides.get("data.image_dir", "images"),
                     factor=overrides.get("data.factor", 1))  # before anything is removed
        shutil.rmtree(out)
    results = run(photos, out, config_name, overrides, mesh_resolution, argv=raw,
                  example=f.example)
  except (Error, FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {one_line(e)}")
  if parallel.is_main():
    print_done(results)


_DEFAULT_CONFIG_ARG = "--config=llff"  # parses --config.KEY=VALUE when no --config is given


def console_main():
  config_flags.DEFINE_config_file("config", None,
                                  "Config name or file (default: chosen from the cameras).",
                                  lock_config=True)
  if cli.config_file_arg(sys.argv) is None:
    # The overrides are read (and checked) against llff, whose keys every layout shares; the
    # layout itself is chosen later, from the cameras.
    sys.argv.insert(1, _DEFAULT_CONFIG_ARG)
  flags.DEFINE_string("output", None, "Folder for the results (made when missing).")
  flags.DEFINE_integer("mesh_resolution", 256, "Mesh grid voxels along the longest side.")
  flags.DEFINE_bool("overwrite", False, "Start over in an --output that holds other results.")
  flags.DEFINE_bool("example", False, "Run on the built-in example instead of PHOTOS.")
  app.run(main, flags_parser=cli.flags_parser(__doc__))


if __name__ == "__main__":
  console_main()
