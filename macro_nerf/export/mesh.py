"""Mesh extraction from a density field: sampling grid, bounds, marching cubes, vertex colours.

Pure functions over numpy arrays and two callables, `density_fn(points (N, 3)) -> (N,)` and
`color_fn(points (N, 3), normals (N, 3)) -> (N, 3)` linear RGB, so that tests can plug analytic
fields and `export_mesh` the trained one (whose colours come from `colors_from_views`: renders along
camera rays, given a `render_fn`). Points are in the scene's normalised coordinates
(normalised = (world - center) * scale) until `to_world` converts the result.

Conventions: a grid is a box `lo`..`hi` sampled at voxel corners with the same step along every axis;
the surface is the level set density == threshold, oriented with normals pointing out of the dense
side (towards decreasing density).
"""
import dataclasses
import os
import tempfile

import fast_simplification
import mcubes
import numpy as np
import trimesh
from tqdm import tqdm

from macro_nerf.errors import MeshError
from macro_nerf.image_utils import linear_to_srgb, to_uint8
from macro_nerf.nerf.camera import frustum_corners, project

MESH_FORMATS = (".ply", ".obj", ".glb")


@dataclasses.dataclass(frozen=True)
class Grid:
  lo: np.ndarray  # (3,) the first sample
  step: float  # spacing of the samples, the same along every axis
  shape: tuple  # samples along x, y, z

  @property
  def hi(self):
    return self.lo + self.step * (np.asarray(self.shape) - 1)

  @property
  def size(self):
    return int(np.prod(self.shape))


def make_grid(lo, hi, resolution):
  """A grid over the box lo..hi with `resolution` voxels along its longest side (the box is
  extended, not shrunk, to a whole number of voxels along the others)."""
  lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
  if resolution < 1:
    raise MeshError(f"resolution must be at least 1, got {resolution}")
  if not np.all(hi > lo):
    raise MeshError(f"empty box: min {fmt(lo)}, max {fmt(hi)}")
  step = float(np.max(hi - lo)) / resolution
  shape = tuple(int(n) for n in np.maximum(np.ceil((hi - lo) / step - 1e-6), 1).astype(int) + 1)
  return Grid(lo=lo, step=step, shape=shape)


def grid_points(grid, start, stop):
  """The sample points of flat indices [start, stop) (C order over x, y, z), (n, 3) float32."""
  i = np.arange(start, stop)
  ijk = np.stack(np.unravel_index(i, grid.shape), -1)
  return (grid.lo + ijk * grid.step).astype(np.float32)


def sample_grid(density_fn, grid, chunk, progress=False, desc="density"):
  """density_fn at every grid point, in chunks of `chunk` points: (nx, ny, nz) float32."""
  out = np.empty(grid.size, np.float32)
  starts = range(0, grid.size, chunk)
  for s in tqdm(starts, desc=desc, disable=not progress, unit="chunk"):
    e = min(s + chunk, grid.size)
    out[s:e] = np.asarray(density_fn(grid_points(grid, s, e)), np.float32).reshape(-1)
  return out.reshape(grid.shape)


def occupied_box(volume, grid, threshold, pad_voxels=2):
  """The bounding box of the samples above threshold, padded by pad_voxels grid steps; None
  when none is."""
  ijk = np.argwhere(volume > threshold)
  if not len(ijk):
    return None
  lo = grid.lo + (ijk.min(0) - pad_voxels) * grid.step
  hi = grid.lo + (ijk.max(0) + pad_voxels) * grid.step
  return lo, hi


def intersect_boxes(*boxes):
  """The intersection of (lo, hi) boxes (None entries are ignored); None when it is empty."""
  boxes = [b for b in boxes if b is not None]
  lo = np.max([np.asarray(b[0], np.float64) for b in boxes], 0)
  hi = np.min([np.asarray(b[1], np.float64) for b in boxes], 0)
  return (lo, hi) if np.all(hi > lo) else None


def frustum_box(c2w, intrinsics, height, width, near, far):
  """The bounding box of the union of the cameras' view frusta between near and far."""
  corners = frustum_corners(np.asarray(c2w, np.float64), np.asarray(intrinsics, np.float64),
                            height, width, np.asarray(near, np.float64),
                            np.asarray(far, np.float64)).reshape(-1, 3)
  return corners.min(0), corners.max(0)


def in_view(points, c2w, intrinsics, height, width, near, far):
  """(N, K) bool: point n lies in camera k's frustum (inside the image, near <= z <= far).
  c2w OpenGL (K, 3, 4), intrinsics (K, 4) fx, fy, cx, cy."""
  p = np.asarray(points, np.float32)
  c2w = np.asarray(c2w, np.float32)
  intr = np.asarray(intrinsics, np.float32)
  out = np.zeros((len(p), len(c2w)), bool)
  for k in range(len(c2w)):
    cam = (p - c2w[k, :, 3]) @ c2w[k, :, :3]  # R^T (p - c)
    z = -cam[:, 2]
    zs = np.maximum(z, 1e-12)
    u = intr[k, 0] * cam[:, 0] / zs + intr[k, 2]
    v = -intr[k, 1] * cam[:, 1] / zs + intr[k, 3]
    out[:, k] = (z >= near[k]) & (z <= far[k]) & (u >= 0) & (u <= width) & (v >= 0) & (v <= height)
  return out


def seen_density(density_fn, c2w, intrinsics, height, width, near, far, min_fraction=0.0):
  """density_fn with zero density wherever no camera sees (outside every view frustum), where
  training never constrained the field; with min_fraction > 0, also where fewer than that fraction
  of the cameras see (the periphery of a capture: ground and background around the subject)."""

  def fn(points):
    d = np.asarray(density_fn(points), np.float32).reshape(-1)
    inside = in_view(points, c2w, intrinsics, height, width, near, far)
    seen = inside.any(1) & (inside.mean(1) >= min_fraction)
    return np.where(seen, d, 0.0)

  return fn


def ranked_views(points, normals, c2w, intrinsics, height, width, near, far, k=3):
  """Per point, the k cameras that see it most head-on: (N, k) indices in decreasing cosine between
  the normal and the direction to the camera, -1 where the camera is behind the surface or the
  point is outside its frustum."""
  p = np.asarray(points, np.float64)
  n = np.asarray(normals, np.float64)
  centres = np.asarray(c2w, np.float64)[:, :, 3]
  block = max(1, (1 << 21) // len(centres))  # bounds the (block, cameras, 3) temporaries
  out = []
  for s in range(0, len(p), block):
    to_cam = centres[None] - p[s:s + block, None]
    to_cam /= np.maximum(np.linalg.norm(to_cam, axis=-1, keepdims=True), 1e-12)
    cos = np.einsum("nkj,nj->nk", to_cam, n[s:s + block])
    cos = np.where(in_view(p[s:s + block], c2w, intrinsics, height, width, near, far), cos, -1.0)
    order = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    out.append(np.where(np.take_along_axis(cos, order, 1) > 0, order, -1))
  return np.concatenate(out) if out else np.zeros((0, min(k, len(centres))), int)


def colors_from_views(points, normals, cameras, render_fn, candidates=3, tol=0.0):
  """Vertex colours as the photos' cameras see them: the pixel colour rendered along the ray from
  the camera that faces the surface most directly, through the point (the same kind of ray as in
  training, so the colour is the field's rendered colour, not a point sample of it).

  cameras = (c2w, intrinsics, height, width, near, far); render_fn(cam (n,), uv (n, 2)) ->
  {"rgb" (n, 3), "depth" (n,)} renders pixel positions uv (continuous, pixel edges at integers).
  A camera whose rendered depth differs from the point's by more than tol + 2 % of it sees
  something else in front (occlusion): the next of `candidates` cameras is tried, and the first
  one is kept when none agrees. Returns rgb (N, 3) and `seen` (N,) bool (False: no camera faces
  the point; its rgb is NaN for the caller to fill).
  """
  c2w, intr = np.asarray(cameras[0], np.float64), np.asarray(cameras[1], np.float64)
  ranked = ranked_views(points, normals, *cameras, k=candidates)
  rgb = np.full((len(points), 3), np.nan, np.float32)
  done = np.zeros(len(points), bool)
  first = None
  for j in range(ranked.shape[1]):
    todo = np.flatnonzero(~done & (ranked[:, j] >= 0))
    if not len(todo):
      continue
    cam = ranked[todo, j]
    uv = np.empty((len(todo), 2))
    z = np.empty(len(todo))
    for c in np.unique(cam):
      sel = cam == c
      uv[sel], z[sel] = project(np.asarray(points, np.float64)[todo[sel]], c2w[c], intr[c])
    out = render_fn(cam, uv)
    if j == 0:
      first = (todo, np.asarray(out["rgb"], np.float32))
    agree = np.abs(np.asarray(out["depth"]) - z) <= tol + 0.02 * z
    rgb[todo[agree]] = np.asarray(out["rgb"], np.float32)[agree]
    done[todo[agree]] = True
  if first is not None:  # occluded from every candidate: the most frontal camera's colour
    left = ~done[first[0]]
    rgb[first[0][left]] = first[1][left]
    done[first[0][left]] = True
  return rgb, done


def depth_grid(height, width, max_pixels=40000):
  """Pixels (py, px) of a regular subgrid of an image (every stride-th, from 0) with at most
  ~max_pixels samples, and the stride: the depth maps that visibility is checked against."""
  stride = max(1, int(np.ceil(np.sqrt(height * width / max_pixels))))
  ys, xs = np.arange(0, height, stride), np.arange(0, width, stride)
  py, px = np.meshgrid(ys, xs, indexing="ij")
  return py, px, stride


def visible(points, cameras, depth_maps, stride, tol, normals=None):
  """(N,) bool: the point is seen by at least one camera, i.e. it lies in its frustum and not
  behind its rendered depth (z <= depth + tol + 2 % of z) at the depth-map samples around it.

  cameras = (c2w, intrinsics, height, width, near, far); depth_maps (K, h', w') rendered z-depth on
  the depth_grid of stride `stride`. Surfaces no camera sees (hidden behind others, or the inside
  of the ground) were never constrained by training.

  With normals (outward, (N, 3)), a point turned away from every camera whose frustum holds it
  counts as seen too: the back of an object, which no photo could show, where the closed surface
  the field holds is the best guess; the hidden points left are those some camera faces but does
  not see (insides of double layers, the underside of a floating sheet).
  """
  c2w, intr, height, width, near, far = cameras
  p = np.asarray(points, np.float64)
  frustum = in_view(p, c2w, intr, height, width, near, far)
  seen = np.zeros(len(p), bool)
  for k in range(len(c2w)):
    idx = np.flatnonzero(frustum[:, k] & ~seen)
    if not len(idx):
      continue
    uv, z = project(p[idx], np.asarray(c2w[k], np.float64), np.asarray(intr[k], np.float64))
    dm = depth_maps[k]
    # The deepest of the four samples around the point: on a slanted surface a neighbouring
    # sample lies nearer, and the point is then still not behind the surface.
    fy, fx = (uv[:, 1] - 0.5) / stride, (uv[:, 0] - 0.5) / stride
    y0, x0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
    deepest = np.full(len(idx), -np.inf)
    for iy in (y0, y0 + 1):
      for ix in (x0, x0 + 1):
        deepest = np.maximum(deepest, dm[np.clip(iy, 0, dm.shape[0] - 1),
                                         np.clip(ix, 0, dm.shape[1] - 1)])
    seen[idx[z <= deepest + tol + 0.02 * z]] = True
  if normals is not None:
    n = np.asarray(normals, np.float64)
    faces_one = np.zeros(len(p), bool)
    for k in range(len(c2w)):
      to_cam = np.asarray(c2w[k], np.float64)[:, 3] - p
      faces_one |= frustum[:, k] & (np.einsum("ij,ij->i", to_cam, n) > 0)
    seen |= frustum.any(1) & ~faces_one
  return seen


def drop_faces(vertices, faces, keep_vertex):
  """Faces whose three vertices are all dropped go, with the vertices no face uses any more."""
  faces = faces[np.any(keep_vertex[faces], axis=1)]
  return keep_large_components(vertices, faces, 0.0)


def marching_cubes(volume, grid, threshold):
  """Vertices (grid coordinates -> the grid's space) and faces of the level set density ==
  threshold, normals out of the dense side (PyMCubes' winding for a field high inside)."""
  verts, faces = mcubes.marching_cubes(np.asarray(volume, np.float32), float(threshold))
  return grid.lo + verts * grid.step, faces.astype(np.int64)


def keep_large_components(vertices, faces, min_fraction):
  """Drops the edge-connected components with fewer than min_fraction of all faces (0 keeps
  everything) and the vertices no face uses."""
  if min_fraction > 0 and len(faces):
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(faces))
    counts = np.bincount(labels)
    faces = faces[counts[labels] >= min_fraction * len(faces)]
  used = np.zeros(len(vertices), bool)
  used[faces.reshape(-1)] = True
  remap = np.cumsum(used) - 1
  return vertices[used], remap[faces]


def vertex_normals(vertices, faces):
  """Area-weighted unit vertex normals."""
  fn = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                vertices[faces[:, 2]] - vertices[faces[:, 0]])
  vn = np.zeros_like(vertices)
  for j in range(3):
    np.add.at(vn, faces[:, j], fn)
  return vn / np.maximum(np.linalg.norm(vn, axis=-1, keepdims=True), 1e-20)


def ground_faces(vertices, faces, floor, band, min_up=0.7):
  """(F,) bool: faces that face up (unit normal z > min_up, i.e. within ~45 degrees of +z) with
  their centre less than `band` above `floor`: what a crop at the floor leaves of the ground
  (bumps, and the fillet the field puts where an object meets it). The objects' own lower sides
  face sideways or down and stay."""
  tri = vertices[faces]
  n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
  up = n[:, 2] / np.maximum(np.linalg.norm(n, axis=1), 1e-20)
  return (tri[:, :, 2].mean(1) < floor + band) & (up > min_up)


def simplify(vertices, faces, keep):
  """Quadric edge-collapse decimation (fast-simplification) to about `keep` of the faces; the open
  borders (crop cuts, culled regions) keep their outline. keep >= 1 returns the input."""
  if keep >= 1 or not len(faces):
    return vertices, faces
  v, f = fast_simplification.simplify(np.ascontiguousarray(vertices, np.float64),
                                      np.ascontiguousarray(faces, np.int64),
                                      target_reduction=1.0 - float(keep), preserve_border=True)
  return keep_large_components(np.asarray(v, vertices.dtype), np.asarray(f, np.int64), 0.0)


def extract_mesh(density_fn, lo, hi, resolution, threshold, color_fn=None, chunk=1 << 16,
                 min_component=0.0, progress=False, visible_fn=None, ground_band=0.0,
                 simplify_keep=1.0):
  """Samples density_fn on a grid over lo..hi, runs marching cubes at `threshold`, drops the faces
  no camera sees (visible_fn(vertices, normals) -> bool, optional), with ground_band > 0 the
  up-facing faces within that height of the box's floor (ground_faces), and small components,
  decimates to about simplify_keep of the faces (< 1; before colouring, so every kept vertex gets
  its own colour) and colours the vertices with color_fn(vertices, normals) (linear RGB).

  Returns {"vertices", "faces", "normals", "colors" (linear, or None), "grid"}; raises MeshError
  when nothing in the box is above the threshold.
  """
  grid = make_grid(lo, hi, resolution)
  volume = sample_grid(density_fn, grid, chunk, progress)
  vmax = float(volume.max())
  if not vmax > threshold:
    raise MeshError(f"no density above the threshold {threshold:g} in the box {fmt(grid.lo)} .. "
                    f"{fmt(grid.hi)} (max density there {vmax:.3g}); lower --threshold")
  verts, faces = marching_cubes(volume, grid, threshold)
  if visible_fn is not None and len(faces):
    keep = visible_fn(verts, vertex_normals(verts, faces))
    verts, faces = drop_faces(verts, faces, np.asarray(keep, bool))
  if ground_band > 0 and len(faces):
    faces = faces[~ground_faces(verts, faces, grid.lo[2], ground_band)]
  verts, faces = keep_large_components(verts, faces, min_component)
  if not len(faces):
    raise MeshError(f"marching cubes at threshold {threshold:g} gave no faces")
  verts, faces = simplify(verts, faces, simplify_keep)
  normals = vertex_normals(verts, faces)
  colors = None
  if color_fn is not None:
    colors = np.empty_like(verts, dtype=np.float32)
    for s in tqdm(range(0, len(verts), chunk), desc="colours", disable=not progress,
                  unit="chunk"):
      colors[s:s + chunk] = np.asarray(color_fn(verts[s:s + chunk], normals[s:s + chunk]))
  return {"vertices": verts, "faces": faces, "normals": normals, "colors": colors, "grid": grid}


# ----------------------------------------------------------------------------- bounds

def auto_threshold(volume, default):
  """`default`, unless the densest coarse voxels stay below twice it (a short run's surfaces are
  softer and thinner in density): then half that maximum, so the surface is still found."""
  vmax = float(np.max(volume))
  if not vmax > 0:
    raise MeshError("the field has no density where the cameras look: train longer")
  return default if vmax >= 2 * default else 0.5 * vmax


def default_bounds(density_fn, frustum, threshold, coarse_resolution=64, pad_voxels=2, crop=None,
                   chunk=1 << 16, progress=False, auto_default=None):
  """The box to mesh: the frustum box, cut to the bounding box of the coarse-grid samples above the
  threshold (padded by pad_voxels coarse voxels) and to `crop` (all normalised units). With
  threshold None it is chosen from the coarse grid (auto_threshold of `auto_default`).

  Returns ((lo, hi), threshold). Raises MeshError when the boxes do not meet or nothing is above
  the threshold.
  """
  box = intersect_boxes(frustum, crop)
  if box is None:
    raise MeshError("the crop box does not meet the cameras' view frusta "
                    f"({fmt(frustum[0])} .. {fmt(frustum[1])} in normalised units)")
  grid = make_grid(box[0], box[1], coarse_resolution)
  volume = sample_grid(density_fn, grid, chunk, progress, desc="bounds")
  if threshold is None:
    threshold = auto_threshold(volume, auto_default)
  occ = occupied_box(volume, grid, threshold, pad_voxels)
  if occ is None:
    raise MeshError(f"no density above the threshold {threshold:g} in the box (max density "
                    f"{float(volume.max()):.3g} on a {coarse_resolution}^3 grid); lower --threshold")
  return intersect_boxes(box, occ), threshold


# ----------------------------------------------------------------------------- units, colour, files

def to_world(points, center, scale):
  """Normalised scene coordinates -> the input's world units."""
  return np.asarray(points, np.float64) / scale + np.asarray(center, np.float64)


def to_normalised(points, center, scale):
  return (np.asarray(points, np.float64) - np.asarray(center, np.float64)) * scale


def box_to_normalised(lo, hi, center, scale):
  """A world-unit box (infinite sides allowed) in normalised units."""
  return to_normalised(lo, center, scale), to_normalised(hi, center, scale)


def srgb8(rgb_linear):
  """Linear RGB -> 8-bit sRGB (the file's vertex colours)."""
  return to_uint8(linear_to_srgb(np.asarray(rgb_linear, np.float64), xnp=np))


def write_mesh(path, vertices, faces, colors_u8=None, normals=None):
  """Writes PLY / OBJ / GLB (by extension) through a temporary file renamed into place, so a
  failure leaves nothing half-written."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in MESH_FORMATS:
    raise MeshError(f"{path}: unknown mesh format {ext!r} (use {', '.join(MESH_FORMATS)})")
  colors = None
  if colors_u8 is not None:
    colors = np.concatenate([colors_u8, np.full((len(colors_u8), 1), 255, np.uint8)], 1)
  mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_normals=normals,
                         vertex_colors=colors, process=False)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_mesh_", suffix=ext)
  os.close(fd)
  try:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the mesh gets the usual mode
    mesh.export(tmp, file_type=ext[1:])
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return path


def fmt(v):
  return "(" + ", ".join(f"{x:.4g}" for x in np.asarray(v, np.float64).reshape(-1)) + ")"
