"""Mesh export of a trained run: the field's density sampled on a grid (jit-compiled,
data-parallel queries), meshed by marching cubes, cleaned, coloured from the views and written in
the input's world units with 8-bit sRGB vertex colours. The math is in mesh.py.

- Bounds: the cameras' view frusta, cut to where a coarse grid finds density that at least
  `bounds_views` of the cameras see (the subject, not a ground running on to every frame's edge);
  density outside every frustum counts as zero, since no photo constrains it.
- Colours: each vertex takes the colour rendered along the ray from the training camera that faces
  it most directly and sees it (the field's colour as the photos saw it; a point query at the level
  set is not what a render shows); vertices no camera faces get the point colour, head-on.
- Hidden surfaces (cull_hidden): faces behind every training camera's rendered depth go, since
  training never constrained them; with keep_backs, those turned away from every camera that holds
  them stay (the back or underside of an object, which no photo can show).
- Ground (ground_band, with a finite crop floor): up-facing faces just above the floor go (the
  ground's bumps and the fillets where objects meet it).
"""
import json
import os

import numpy as np
from tqdm import tqdm

from macro_nerf import parallel
from macro_nerf.export import mesh as mesh_lib
from macro_nerf.nerf import render
from macro_nerf.nerf.model import model_params
from macro_nerf.training.checkpoints import load_run

# Density per normalised unit (the view frusta fill [-1, 1]^3): at 40 a layer 0.017 units thick
# (2 voxels at resolution 256) stops half the light: the faint haze of a radiance field stays out.
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


def eval_depth_dir(workdir, step):
  """WD/eval/depth when evaluation ran on this checkpoint (its metrics.json says `step`), else
  None: its depth maps are the renders culling needs."""
  try:
    with open(os.path.join(workdir, "eval", "metrics.json")) as f:
      same = json.load(f).get("step") == step
  except (OSError, ValueError):
    return None
  return os.path.join(workdir, "eval", "depth") if same else None


def depth_maps(scene, depth_dir, render_fn, progress):
  """Every view's z-depth (normalised units) on mesh.depth_grid's subgrid, and its stride: from
  depth_dir/<stem>.npy (world units, as evaluation writes them) when all are there, else rendered
  with render_fn(view, px, py)."""
  py, px, stride = mesh_lib.depth_grid(scene.height, scene.width)
  files = [os.path.join(depth_dir or "", os.path.splitext(n)[0] + ".npy") for n in scene.names]
  if depth_dir and all(os.path.isfile(f) for f in files):
    maps = np.stack([np.load(f)[::stride, ::stride] for f in files]).astype(np.float32)
    return maps * scene.scale, stride
  maps = []
  for k in tqdm(range(len(scene.names)), desc="depth maps", disable=not progress, unit="view"):
    out = render_fn(k, px.reshape(-1), py.reshape(-1))
    maps.append(np.asarray(out["depth"]).reshape(px.shape))
  return np.stack(maps), stride


def export(workdir, output, resolution=256, threshold=DEFAULT_THRESHOLD, crop_min=None,
           crop_max=None, min_component=0.01, chunk=1 << 16, progress=True, cull_hidden=True,
           bounds_views=0.5, keep_backs=True, ground_band=0.1, simplify=1.0, depth_dir=None):
  """Writes the mesh of a trained run; returns a summary dict. threshold None: DEFAULT_THRESHOLD,
  or lower where the field's density stays below it (mesh.auto_threshold). depth_dir: a folder
  with every view's rendered z-depth as <stem>.npy in world units, used for cull_hidden instead of
  rendering them again (default: WD/eval/depth when evaluation ran on this checkpoint). Raises
  MeshError when nothing is above the threshold (nothing is written then)."""
  if os.path.splitext(output)[1].lower() not in mesh_lib.MESH_FORMATS:
    raise ValueError(f"--output={output}: use a .ply, .obj or .glb file name")
  if (threshold is not None and threshold <= 0) or not 0 <= min_component < 1:
    raise ValueError("--threshold must be positive and --min_component in [0, 1)")
  if not 0 <= ground_band < 1:
    raise ValueError(f"--ground_band={ground_band}: use a fraction of the box height in [0, 1)")
  if not 0 < simplify <= 1:
    raise ValueError(f"--simplify={simplify}: use the fraction of faces to keep, in (0, 1]")
  config, scene, model, state = load_run(workdir)
  if depth_dir is None:
    depth_dir = eval_depth_dir(workdir, int(parallel.to_host(state.step)))
  params = model_params(state.params)
  query_fn = render.make_query_fn(model)
  cams = (scene.c2w, scene.intrinsics, scene.height, scene.width, scene.near, scene.far)

  def field_density(x):
    return render.query_points(query_fn, params, x, chunk)["density"]

  density_fn = mesh_lib.seen_density(field_density, *cams)

  render_fn = render.make_render_fn(model)
  data = render.device_data(scene, np.arange(len(scene.names)), render_fn.mesh)

  def render_uv(cam, uv):  # continuous pixel positions; render_pixels adds the half pixel
    return render.render_pixels(render_fn, params, data, cam, uv[:, 0] - 0.5, uv[:, 1] - 0.5,
                                config.eval.chunk)

  def color_fn(x, normals):
    rgb, seen = mesh_lib.colors_from_views(x, normals, cams, render_uv, tol=3 * step)
    if not seen.all():  # no camera in front: the field's colour there, looked at head-on
      rgb[~seen] = render.query_points(query_fn, params, x[~seen], chunk,
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
  box, threshold = mesh_lib.default_bounds(bounds_fn, mesh_lib.frustum_box(*cams), threshold,
                                           crop=crop, chunk=chunk, progress=progress,
                                           auto_default=DEFAULT_THRESHOLD)
  step = mesh_lib.make_grid(box[0], box[1], resolution).step
  visible_fn = None
  if cull_hidden:  # depth maps of every photo's camera, on a subgrid of its pixels
    maps, stride = depth_maps(scene, depth_dir, lambda k, px, py: render.render_pixels(
        render_fn, params, data, np.full(px.size, k, np.int32), px, py, config.eval.chunk),
                              progress)
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
