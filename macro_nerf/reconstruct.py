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
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags
from ml_collections.config_flags import config_path

from macro_nerf import cli, config_check, config_files, parallel
from macro_nerf.data import images as images_lib, sfm
from macro_nerf.data.folders import read_folder
from macro_nerf.errors import DataError, Error, MeshError, OutputError, one_line
from macro_nerf.export import mesh_export, photo_outputs
from macro_nerf.report import page

STAGES = ("poses", "layout", "train", "evaluate", "photos", "lens", "mesh", "report")
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


class Progress:
  """OUT/progress.json: the inputs and what is done, rewritten atomically after every stage."""

  def __init__(self, out, inputs):
    self.path = os.path.join(out, "progress.json")
    self.state = {"inputs": inputs, "done": {}}
    if os.path.isfile(self.path):
      with open(self.path) as f:
        old = json.load(f)
      if old.get("inputs") != inputs:
        raise OutputError(f"{out}: holds the results of other inputs or settings (progress.json); "
                          "use another --output, or --overwrite to start over")
      self.state = old

  def done(self, stage):
    return stage in self.state["done"]

  def get(self, stage):
    return self.state["done"][stage]

  def mark(self, stage, **info):
    self.state["done"][stage] = info
    tmp = self.path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(self.state, f, indent=1)
    os.replace(tmp, self.path)


def check_inputs(photos, out, example=False):
  """Everything that can be checked before any work: the photos, the output folder. Returns
  'scene' or 'photos'."""
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
    return "scene"
  sfm.check_images(photos)  # every photo decodes, one size, at least 3
  return "photos"


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


def _say(k, text):
  print(f"[{k}/{len(STAGES)}] {text}", flush=True)


def _versions():
  import flax  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  import jaxlib  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  v = {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
       "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
       "backend": f"{jax.default_backend()} x {jax.device_count()}", "machine": platform.machine()}
  try:
    here = os.path.dirname(os.path.abspath(__file__))
    commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, timeout=5, check=False).stdout.strip()
    if commit:
      dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, timeout=5, check=False).stdout.strip()
      v["macro_nerf commit"] = commit + (" with local changes" if dirty else "")
  except (OSError, subprocess.SubprocessError):
    pass
  return v


def run(photos, out, config_name=None, overrides=None, mesh_resolution=256, argv=None,
        title=None, example=False):
  """The whole pipeline; returns the results dict (also OUT/results.json)."""
  overrides = dict(overrides or {})
  photos, out = os.path.abspath(photos), os.path.abspath(out)
  kind = check_inputs(photos, out, example)
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
      _say(1, f"structure-from-motion on {photos}")
      if os.path.isdir(scene_path):  # left by a kill after sfm moved it in place
        shutil.rmtree(scene_path)
      report = sfm.run(photos, scene_path)
      progress.mark("poses", seconds=time.time() - t, registered=report["registered"],
                    total=report["total"], unregistered=report["unregistered"])
    photo_dir = photos
  else:
    scene_path, photo_dir = photos, None
    if not progress.done("poses"):
      _say(1, f"poses: read from {photos}")
      progress.mark("poses", seconds=0.0, registered=None, total=None, unregistered=[])
  times["poses"] = progress.get("poses")["seconds"]
  # 2. layout
  image_dir = overrides.get("data.image_dir", "images")
  photo_dir = photo_dir or os.path.join(scene_path, image_dir)
  if not progress.done("layout"):
    t = time.time()
    names = images_lib.list_images(os.path.join(scene_path, image_dir))
    size = photo_outputs.photo_size(os.path.join(scene_path, image_dir, names[0]))
    factor = overrides.get("data.factor", auto_factor(*size))
    _, c2w, *_ = read_folder(scene_path, image_dir, factor)
    layout, angle = choose_layout(c2w)
    name = config_name or layout
    _say(2, f"layout: cameras within {angle:.0f} degrees of their mean view -> "
         f"{'forward-facing' if layout == 'llff' else 'all around'}; config {name}")
    progress.mark("layout", seconds=time.time() - t, config=name, auto_layout=layout,
                  max_angle_deg=angle, size=list(size))
  lay = progress.get("layout")
  times["layout"] = lay["seconds"]
  config = build_config(lay["config"], overrides, scene_path, lay["size"])
  run_dir = os.path.join(out, "run")
  # 3. train (resumes from its newest checkpoint)
  from macro_nerf.training.loop import train  # pylint: disable=import-outside-toplevel
  if not progress.done("train"):
    _say(3, f"training {config.train.max_steps} steps, defocus "
         f"{'on' if config.defocus.enabled else 'off'} -> {run_dir}")
    t = time.time()
    _, _, _, summary = train(config, run_dir)
    progress.mark("train", seconds=time.time() - t,
                  steps_per_sec=summary.get("steps_per_sec"), steps=config.train.max_steps)
  times["train"] = progress.get("train")["seconds"]
  result = finish(out, run_dir, scene_path, photo_dir, progress, times, mesh_resolution,
                  argv=argv, title=title, first_stage=4)
  return result


def finish(out, run_dir, scene_path, photo_dir, progress, times, mesh_resolution=256, argv=None,
           title=None, first_stage=4):
  """Stages evaluate .. report on a trained run; returns the results dict (OUT/results.json)."""
  from macro_nerf.export.evaluation import evaluate  # pylint: disable=import-outside-toplevel
  from macro_nerf.training.workdir import load_config  # pylint: disable=import-outside-toplevel
  k = first_stage
  # 4. evaluate
  if not progress.done("evaluate"):
    _say(k, "rendering every photo all-in-focus, with its depth")
    t = time.time()
    metrics = evaluate(run_dir)
    progress.mark("evaluate", seconds=time.time() - t)
  times["evaluate"] = progress.get("evaluate")["seconds"]
  with open(os.path.join(run_dir, "eval", "metrics.json")) as f:
    metrics = json.load(f)
  names = sorted(f[:-4] for f in os.listdir(os.path.join(run_dir, "eval", "depth"))
                 if f.endswith(".npy"))
  names = [os.path.basename(photo_outputs.find_photo(photo_dir, n) or n) for n in names]
  # 5-6. all-in-focus photos at their own size, depth maps
  k += 1
  if not progress.done("photos"):
    _say(k, f"all-in-focus photos and depth maps -> {out}/all_in_focus, {out}/depth")
    t = time.time()
    rows = photo_outputs.write_photo_outputs(run_dir, names, photo_dir, out)
    progress.mark("photos", seconds=time.time() - t, rows=rows)
  times["photos"] = progress.get("photos")["seconds"]
  rows = progress.get("photos")["rows"]
  # 7. lens
  k += 1
  if not progress.done("lens"):
    _say(k, f"the learned lens -> {out}/lens.json")
    t = time.time()
    lens = photo_outputs.lens_rows(metrics, scene_path, names)
    with open(os.path.join(out, "lens.json"), "w") as f:
      json.dump({"units": "focus_distance in scene units; kappa (blur scale) in pixels x scene "
                          "units: CoC radius = kappa |1/z - 1/focus_distance| px",
                 "views": [{"file": v["name"], "focus_distance": v["focus"], "kappa": v["kappa"]}
                           for v in lens]}, f, indent=1)
    cocs = photo_outputs.write_coc_maps(run_dir, lens, out)
    progress.mark("lens", seconds=time.time() - t, lens=lens, coc=cocs)
  times["lens"] = progress.get("lens")["seconds"]
  # 8. mesh
  k += 1
  mesh_file = os.path.join(out, "mesh.ply")
  if not progress.done("mesh"):
    _say(k, f"mesh -> {mesh_file}")
    t = time.time()
    try:
      m = mesh_export.export(run_dir, mesh_file, resolution=mesh_resolution, threshold=None,
                             depth_dir=os.path.join(run_dir, "eval", "depth"))
      info = {k2: m[k2] for k2 in ("vertices", "faces", "threshold", "box_min", "box_max")}
    except MeshError as e:
      info = {"error": one_line(e)}
      print(f"mesh: {one_line(e)}", flush=True)
    progress.mark("mesh", seconds=time.time() - t, **info)
  times["mesh"] = progress.get("mesh")["seconds"]
  # 9. report
  k += 1
  _say(k, f"report -> {out}/report.html")
  t = time.time()
  config = load_config(run_dir)
  info = report_info(out, run_dir, config, metrics, rows, progress, times, mesh_file, argv, title)
  page.write_report(os.path.join(out, "report.html"), info)
  times["report"] = time.time() - t
  results = {"report": os.path.join(out, "report.html"), "all_in_focus": os.path.join(
      out, "all_in_focus"), "depth": os.path.join(out, "depth"), "lens": os.path.join(
      out, "lens.json"), "mesh": mesh_file if os.path.isfile(mesh_file) else None,
      "run": run_dir, "photos": len(rows), "seconds": times,
      "scores": {n: r.get("scores") for n, r in ((r["name"], r) for r in info["photos"])}}
  with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
  progress.mark("report", seconds=times["report"])
  return results


def _scores(photo_path, result_path, sharp_path, render_size):
  """PSNR/SSIM of the photo and of the all-in-focus render against the sharp reference, at the
  training resolution (where the render was made)."""
  from PIL import Image  # pylint: disable=import-outside-toplevel

  from macro_nerf import image_utils  # pylint: disable=import-outside-toplevel

  def load(p):
    with Image.open(p) as im:
      im = image_utils.upright(im).convert("RGB")
      if list(im.size) != list(render_size):
        im = im.resize(tuple(render_size), Image.BOX)
      return np.asarray(im, np.float32) / 255.0

  ref = load(sharp_path)
  out = {}
  for key, p in (("photo", photo_path), ("result", result_path)):
    img = load(p)
    out[key] = {"psnr": image_utils.psnr(img, ref), "ssim": image_utils.ssim(img, ref)}
  return out


def report_info(out, run_dir, config, metrics, rows, progress, times, mesh_file, argv, title):
  """Everything report.html shows, as a dict (macro_nerf/report/page.py)."""
  sharp_dir = None
  if config.data.get("eval_sharp_dir"):
    sharp_dir = os.path.join(config.data.path, config.data.eval_sharp_dir)
  photos = []
  for r in rows:
    p = dict(r)
    sharp = photo_outputs.find_photo(sharp_dir, r["name"]) if sharp_dir else None
    if sharp:
      p["scores"] = _scores(r["input"], r["result"], sharp, r["render_size"])
    photos.append(p)
  lens = progress.get("lens")
  mesh = progress.get("mesh")
  mesh_info = None
  if os.path.isfile(mesh_file) and "error" not in mesh:
    from macro_nerf.training.checkpoints import load_run  # pylint: disable=import-outside-toplevel
    _, scene, _, _ = load_run(run_dir)
    c2w = scene.c2w[scene.train_idx]
    view_dir = c2w[:, :3, 3].mean(0) - 0.0  # from the scene's centre towards the mean camera
    up = c2w[:, :3, 1].mean(0)
    payload = page.mesh_payload(mesh_file, view_dir / max(np.linalg.norm(view_dir), 1e-9), up)
    mesh_info = {"file": mesh_file, "vertices": mesh["vertices"], "faces": mesh["faces"],
                 "threshold": mesh["threshold"], "payload": payload,
                 "note": (f"; shown decimated to {payload['faces']:,} faces"
                          if payload["faces"] < mesh["faces"] else "")}
  poses = progress.get("poses")
  lay = progress.get("layout")
  summary = [("photos", f"{len(rows)}" + (f" of {poses['total']} (not registered by "
                                          f"structure-from-motion: {', '.join(poses['unregistered'])})"
                                          if poses.get("unregistered") else "")),
             ("layout", f"{lay['config']} (cameras within {lay['max_angle_deg']:.0f} degrees of "
                        "their mean view)" if "max_angle_deg" in lay else lay.get("config")),
             ("training", f"{config.train.max_steps} steps, defocus "
                          f"{'on' if config.defocus.enabled else 'off'}, "
                          f"photos at {rows[0]['render_size'][0]}x{rows[0]['render_size'][1]}"
                          if rows else "")]
  scored = [p["scores"] for p in photos if p.get("scores")]
  if scored:
    a = np.mean([s["photo"]["psnr"] for s in scored])
    b = np.mean([s["result"]["psnr"] for s in scored])
    better = sum(s["result"]["psnr"] > s["photo"]["psnr"] for s in scored)
    summary.append(("against the sharp references", f"photos {a:.2f} dB, all-in-focus {b:.2f} dB "
                    f"({b - a:+.2f} dB, mean over {len(scored)} photos); all-in-focus better "
                    f"than the photo on {better} of {len(scored)}"))
  if mesh_info is None:
    summary.append(("mesh", mesh.get("error", "none")))
  summary.append(("folder", out))
  upscaled = [r for r in rows if r["size"] != r["render_size"]]
  render_note = (f"Rendered at {rows[0]['render_size'][0]}x{rows[0]['render_size'][1]}"
                 + (f" and resampled (Lanczos) to the photos' own "
                    f"{upscaled[0]['size'][0]}x{upscaled[0]['size'][1]}; set "
                    "--config.data.factor=1 to train and render at full size." if upscaled
                    else ", the photos' own size.") if rows else "")
  argv = list(argv or [])
  if argv and argv[0].endswith(os.path.join("macro_nerf", "reconstruct.py")):
    argv[0] = "python -m macro_nerf.reconstruct"  # as `python -m` ran it
  cmd = " ".join([argv[0]] + [shlex.quote(a) for a in argv[1:]]) if argv else ""
  commands = ([f"# this run\n{cmd}"] if cmd else []) + [
      "# the same, step by step",
      f"python -m macro_nerf.train --config={lay['config']} --config.data.path={config.data.path}"
      f" --workdir={run_dir} --config.defocus.enabled=True --config.data.llffhold="
      f"{config.data.llffhold} --config.data.factor={config.data.factor}"
      f" --config.train.max_steps={config.train.max_steps}",
      f"python -m macro_nerf.eval --workdir={run_dir}",
      f"python -m macro_nerf.export_mesh --workdir={run_dir} --output={mesh_file}"]
  curve = photo_outputs.training_curve(run_dir)
  with open(os.path.join(run_dir, "config.json")) as f:
    config_text = f.read()
  lens_note = ""
  if metrics.get("lens_note"):
    lens_note = metrics["lens_note"]
  return {"title": title or f"macro_nerf: {os.path.basename(out)}",
          "subtitle": f"{len(rows)} photos -> all-in-focus photos, depth, lens, mesh. Made "
                      f"{time.strftime('%Y-%m-%d %H:%M')}.",
          "photos": photos, "render_note": render_note, "lens": lens["lens"],
          "lens_note": lens_note, "coc": lens["coc"], "curves": curve, "mesh": mesh_info,
          "summary": summary, "timings": dict(times), "config": config_text,
          "versions": _versions(), "commands": commands}


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
  from macro_nerf import demo  # pylint: disable=import-outside-toplevel
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
      from macro_nerf import demo  # pylint: disable=import-outside-toplevel
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
        check_inputs(photos, out)  # before anything is removed
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
