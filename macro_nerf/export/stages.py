"""The stages of `macro_nerf.reconstruct` (and of the demo's end) after training, each recorded in
OUT/progress.json when done so that a rerun continues where a kill stopped it: evaluate, photos
(all-in-focus at each photo's own size, depth), lens, mesh and report.
"""
import json
import os
import time

from macro_nerf.data.images import find_image
from macro_nerf.errors import MeshError, OutputError, one_line
from macro_nerf.export import mesh_export, photo_outputs
from macro_nerf.export.evaluation import evaluate
from macro_nerf.report import gather, page
from macro_nerf.training.workdir import load_config

STAGES = ("poses", "layout", "train", "evaluate", "photos", "lens", "mesh", "report")


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


def say(k, text):
  print(f"[{k}/{len(STAGES)}] {text}", flush=True)


def finish(out, run_dir, scene_path, photo_dir, progress, times, mesh_resolution=256, argv=None,
           title=None, first_stage=4):
  """Stages evaluate .. report on a trained run; returns the results dict (OUT/results.json)."""
  k = first_stage
  # 4. evaluate
  if not progress.done("evaluate"):
    say(k, "rendering every photo all-in-focus, with its depth")
    t = time.time()
    metrics = evaluate(run_dir)
    progress.mark("evaluate", seconds=time.time() - t)
  times["evaluate"] = progress.get("evaluate")["seconds"]
  with open(os.path.join(run_dir, "eval", "metrics.json")) as f:
    metrics = json.load(f)
  names = sorted(f[:-4] for f in os.listdir(os.path.join(run_dir, "eval", "depth"))
                 if f.endswith(".npy"))
  names = [os.path.basename(find_image(photo_dir, n) or n) for n in names]
  # 5-6. all-in-focus photos at their own size, depth maps
  k += 1
  if not progress.done("photos"):
    say(k, f"all-in-focus photos and depth maps -> {out}/all_in_focus, {out}/depth")
    t = time.time()
    rows = photo_outputs.write_photo_outputs(run_dir, names, photo_dir, out)
    progress.mark("photos", seconds=time.time() - t, rows=rows)
  times["photos"] = progress.get("photos")["seconds"]
  rows = progress.get("photos")["rows"]
  # 7. lens
  k += 1
  if not progress.done("lens"):
    say(k, f"the learned lens -> {out}/lens.json")
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
    say(k, f"mesh -> {mesh_file}")
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
  say(k, f"report -> {out}/report.html")
  t = time.time()
  config = load_config(run_dir)
  info = gather.report_info(out, run_dir, config, metrics, rows, progress, times, mesh_file, argv, title)
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
