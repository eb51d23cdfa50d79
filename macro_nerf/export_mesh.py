"""Mesh export: python -m macro_nerf.export_mesh --workdir=WD --output=mesh.{ply,obj,glb}.

The trained field's density is sampled on a grid (jit-compiled, data-parallel queries), meshed by
marching cubes at --threshold and cleaned of small components; the file is in the input's world
units, with 8-bit sRGB vertex colours. The math is in macro_nerf/mesh.py.

Bounds, unless cropped further by --crop_min/--crop_max (world units): the bounding box of the
cameras' view frusta, cut to where a coarse 64^3 grid finds density above the threshold (padded by
two coarse voxels) among the points that at least --bounds_views (default half) of the cameras
see. Density outside every camera's frustum counts as zero: no photo constrains it.

Colours: each vertex takes the colour rendered along the ray from the training camera that faces
it most directly (of the three most frontal, the first whose rendered depth agrees with the
vertex's, i.e. not occluded), through the vertex: the field's colour as the photos saw it. A point
query of the colour at the vertex is far worse: training composites colours over coarse ray
samples, so the colour at one point of the level set is not what a render shows (on the
development scenes point colours were ~2x further from the photos). Vertices that face no camera
get that point colour, looked at head-on.

Hidden surfaces (--cull_hidden, default on): faces whose vertices lie behind the rendered depth of
every training camera (on a subgrid of at most ~40k pixels per view) are dropped. Training never
constrained them, and the density there is whatever the optimiser left. With --keep_backs (default
on) a hidden face turned away from every camera that holds it stays: the back or underside of an
object, which no photo can show, where the field's closed surface is the best guess (pebbles, sup4
run: Chamfer 1.26 % -> 1.12 %, F 0.665 -> 0.679; without any culling 1.19 % / 0.66). What goes is
what some camera faces but does not see: insides of double layers, sheets under other surfaces.

Ground (--ground_band, default 0.1 of the box height, only with a finite --crop_min z): a flat cut
leaves the ground's bumps and the fillet the field puts where an object meets the ground; the
up-facing faces in that band above the floor go (pebbles, 4500 steps, threshold 40: Chamfer
1.01 % -> 0.91 %, F 0.708 -> 0.722; garden neutral).

Simplification (--simplify=F, default 1: off): quadric edge collapse to about F of the faces before
the vertex colours are rendered, open borders kept (pebbles at 0.1: 7.2 k faces, the same score).
"""
import json
import os
import sys

import numpy as np
from absl import app, flags, logging
from tqdm import tqdm

from macro_nerf import mesh as mesh_lib
from macro_nerf import parallel, pipeline
from macro_nerf.data import DataError

# Density is per normalised unit (the view frusta fill [-1, 1]^3). At 40 a layer 0.017 units thick
# (2 voxels at --resolution=256) stops half the light (ln 2 / 40); the faint haze of a radiance
# field stays out. Measured on the development scenes (defocus runs, ground cut at z = 0.05,
# score.py). Before --keep_backs and --ground_band (3000 steps): garden Chamfer 0.67 % / F 0.86 at
# 20, 0.37 % / 0.97 at 60; pebbles 2.26 % / 0.48 at 20, 2.12 % / 0.58 at 60, 2.24 % / 0.52 at 150.
# With both (pebbles 4500 steps, garden 3000): pebbles 0.89 % / 0.733 at 30, 0.91 % / 0.722 at 40,
# 0.94 % / 0.706 at 50, 0.95 % / 0.694 at 60; garden 0.53 % / 0.935 at 30, 0.45 % / 0.96 at 40,
# 0.38 % / 0.97 at 60 (without the band). 40 is where both meet the 1 % / 0.7 target with room.
DEFAULT_THRESHOLD = 40.0


def parse_point(text, name):
  """'x,y,z' -> (3,) floats ('inf' and '-inf' allowed); None for an empty string."""
  if text is None or text == "":
    return None
  try:
    v = np.array([float(s) for s in text.split(",")], np.float64)
  except ValueError:
    v = None
  if v is None or v.shape != (3,) or np.isnan(v).any():
    raise ValueError(f"--{name}={text}: expected three numbers x,y,z (world units)")
  return v


def export(workdir, output, resolution=256, threshold=DEFAULT_THRESHOLD, crop_min=None,
           crop_max=None, min_component=0.01, chunk=1 << 16, progress=True, cull_hidden=True,
           bounds_views=0.5, keep_backs=True, ground_band=0.1, simplify=1.0):
  """Writes the mesh of a trained run; returns a summary dict. Raises MeshError when nothing is
  above the threshold (nothing is written then)."""
  if os.path.splitext(output)[1].lower() not in mesh_lib.MESH_FORMATS:
    raise ValueError(f"--output={output}: use a .ply, .obj or .glb file name")
  if threshold <= 0 or not 0 <= min_component < 1:
    raise ValueError("--threshold must be positive and --min_component in [0, 1)")
  if not 0 <= ground_band < 1:
    raise ValueError(f"--ground_band={ground_band}: use a fraction of the box height in [0, 1)")
  if not 0 < simplify <= 1:
    raise ValueError(f"--simplify={simplify}: use the fraction of faces to keep, in (0, 1]")
  config, scene, model, state = pipeline.load_run(workdir)
  params = pipeline.model_params(state.params)
  query_fn = pipeline.make_query_fn(model)
  cams = (scene.c2w, scene.intrinsics, scene.height, scene.width, scene.near, scene.far)

  def field_density(x):
    return pipeline.query_points(query_fn, params, x, chunk)["density"]

  density_fn = mesh_lib.seen_density(field_density, *cams)

  render_fn = pipeline.make_render_fn(model)
  data = pipeline.device_data(scene, np.arange(len(scene.names)), render_fn.mesh)

  def render_uv(cam, uv):  # continuous pixel positions; render_pixels adds the half pixel
    return pipeline.render_pixels(render_fn, params, data, cam, uv[:, 0] - 0.5, uv[:, 1] - 0.5,
                                  config.eval.chunk)

  def color_fn(x, normals):
    rgb, seen = mesh_lib.colors_from_views(x, normals, cams, render_uv, tol=3 * step)
    if not seen.all():  # no camera in front: the field's colour there, looked at head-on
      rgb[~seen] = pipeline.query_points(query_fn, params, x[~seen], chunk,
                                         viewdirs=-normals[~seen])["rgb"]
    return rgb

  crop = None
  if crop_min is not None or crop_max is not None:
    lo = np.full(3, -np.inf) if crop_min is None else np.asarray(crop_min, np.float64)
    hi = np.full(3, np.inf) if crop_max is None else np.asarray(crop_max, np.float64)
    if not np.all(hi > lo):
      raise ValueError(f"crop box is empty: min {mesh_lib.fmt(lo)}, max {mesh_lib.fmt(hi)}")
    crop = mesh_lib.box_to_normalised(lo, hi, scene.center, scene.scale)
  # The box: where density is, among the points at least `bounds_views` of the cameras see (the
  # subject, not the ground that runs on to the edge of every frame).
  bounds_fn = mesh_lib.seen_density(field_density, *cams, min_fraction=bounds_views)
  box = mesh_lib.default_bounds(bounds_fn, mesh_lib.frustum_box(*cams), threshold, crop=crop,
                                chunk=chunk, progress=progress)
  step = mesh_lib.make_grid(box[0], box[1], resolution).step
  visible_fn = None
  if cull_hidden:  # depth maps of every photo's camera, on a subgrid of its pixels
    py, px, stride = mesh_lib.depth_grid(scene.height, scene.width)
    maps = []
    for k in tqdm(range(len(scene.names)), desc="depth maps", disable=not progress, unit="view"):
      out = pipeline.render_pixels(render_fn, params, data, np.full(px.size, k, np.int32),
                                   px.reshape(-1), py.reshape(-1), config.eval.chunk)
      maps.append(np.asarray(out["depth"]).reshape(px.shape))
    maps = np.stack(maps)
    visible_fn = lambda v, n: mesh_lib.visible(v, cams, maps, stride, 3 * step,
                                               n if keep_backs else None)
  # A finite crop floor says z is up and the ground is below it: up-facing faces just above it are
  # what is left of the ground.
  band = 0.0
  if crop_min is not None and np.isfinite(crop_min[2]):
    band = ground_band * float(box[1][2] - box[0][2])
  out = mesh_lib.extract_mesh(density_fn, box[0], box[1], resolution, threshold, color_fn, chunk,
                              min_component, progress, visible_fn, band, simplify)
  verts = mesh_lib.to_world(out["vertices"], scene.center, scene.scale)
  if parallel.is_main():
    mesh_lib.write_mesh(output, verts, out["faces"], mesh_lib.srgb8(out["colors"]),
                        out["normals"])
  return {"output": output, "vertices": int(len(verts)), "faces": int(len(out["faces"])),
          "threshold": threshold, "grid": list(out["grid"].shape),
          "box_min": mesh_lib.to_world(box[0], scene.center, scene.scale).round(6).tolist(),
          "box_max": mesh_lib.to_world(box[1], scene.center, scene.scale).round(6).tolist()}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  try:
    parallel.initialize_from_flags()
    res = export(f.workdir, f.output, f.resolution, f.threshold,
                 parse_point(f.crop_min, "crop_min"), parse_point(f.crop_max, "crop_max"),
                 f.min_component, f.chunk, cull_hidden=f.cull_hidden, keep_backs=f.keep_backs,
                 ground_band=f.ground_band, bounds_views=f.bounds_views, simplify=f.simplify)
  except (DataError, FileNotFoundError, ValueError) as e:  # MeshError is a ValueError
    sys.exit("error: " + " ".join(str(e).split()))
  if parallel.is_main():
    print(json.dumps(res))


def console_main():
  flags.DEFINE_string("workdir", None, "Training workdir.")
  flags.DEFINE_string("output", None, "Mesh file: .ply, .obj or .glb (vertex colours, world units).")
  flags.DEFINE_integer("resolution", 256, "Grid voxels along the longest side of the box.")
  flags.DEFINE_float("threshold", DEFAULT_THRESHOLD,
                     "Density level of the surface (per normalised unit; the frusta fill [-1, 1]^3).")
  flags.DEFINE_string("crop_min", None, "x,y,z: lower corner of a crop box, world units "
                      "(-inf allowed), e.g. --crop_min=-inf,-inf,0.02 to cut a ground at z = 0.")
  flags.DEFINE_string("crop_max", None, "x,y,z: upper corner of a crop box, world units.")
  flags.DEFINE_float("min_component", 0.01, "Drop connected pieces with fewer than this fraction "
                     "of the faces (0: keep all).")
  flags.DEFINE_integer("chunk", 1 << 16, "Points per field query.")
  flags.DEFINE_float("bounds_views", 0.5, "The default box holds the density that at least this "
                     "fraction of the cameras see (0: any camera).")
  flags.DEFINE_bool("cull_hidden", True, "Drop surfaces no training camera sees (behind what its "
                    "rendered depth shows): the unconstrained insides and undersides.")
  flags.DEFINE_float("ground_band", 0.1, "With a finite --crop_min z (the ground's side), drop "
                     "faces that face up (within 45 degrees of +z) in this fraction of the box's "
                     "height above its floor: ground bumps and fillets the crop leaves (0: off).")
  flags.DEFINE_bool("keep_backs", True, "With --cull_hidden, keep hidden surfaces that face away "
                    "from every camera (the backs of objects, which no photo shows).")
  flags.DEFINE_float("simplify", 1.0, "Keep about this fraction of the faces (quadric decimation; "
                     "1: off), e.g. 0.1 for a light mesh to share.")
  parallel.define_flags()
  flags.mark_flags_as_required(["workdir", "output"])
  app.run(main)


if __name__ == "__main__":
  console_main()
