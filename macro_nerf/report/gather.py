"""What OUT/report.html shows, gathered from a reconstruction's outputs (page.py draws it)."""
import os
import platform
import shlex
import subprocess
import time

import flax
import jax
import jaxlib
import numpy as np
import optax
from PIL import Image

from macro_nerf import image_utils
from macro_nerf.data.images import find_image
from macro_nerf.export import photo_outputs
from macro_nerf.report import page
from macro_nerf.training.checkpoints import load_run


def versions():
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


def scores(photo_path, result_path, sharp_path, render_size):
  """PSNR/SSIM of the photo and of the all-in-focus render against the sharp reference, at the
  training resolution (where the render was made)."""
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
    sharp = find_image(sharp_dir, r["name"]) if sharp_dir else None
    if sharp:
      p["scores"] = scores(r["input"], r["result"], sharp, r["render_size"])
    photos.append(p)
  lens = progress.get("lens")
  mesh = progress.get("mesh")
  mesh_info = None
  if os.path.isfile(mesh_file) and "error" not in mesh:
    _, scene, _, _ = load_run(run_dir)
    c2w = scene.c2w[scene.train_idx]
    view_dir = c2w[:, :3, 3].mean(0)  # from the scene's centre (the origin) to the mean camera
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
          "versions": versions(), "commands": commands}
