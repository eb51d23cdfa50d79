"""Mesh export (macro_nerf.mesh on analytic fields, the CLI on a tiny run) and camera-path renders."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from helpers import REPO
from macro_nerf.errors import MeshError
from macro_nerf.export import camera_paths, mesh as mesh_lib, mesh_export
from macro_nerf.nerf import camera

BOX = (np.full(3, -1.0), np.full(3, 1.0))


def sphere_density(center, radius, peak=100.0, width=0.02):
  """A smooth solid ball: density peak/2 exactly at the surface, ~peak inside, ~0 outside."""
  center = np.asarray(center, np.float64)

  def fn(x):
    r = np.linalg.norm(np.asarray(x, np.float64) - center, axis=-1)
    return peak / (1.0 + np.exp(-(radius - r) / width))

  return fn


def smooth_color(x, normals=None):
  """Linear RGB, a smooth function of position, within (0, 1)."""
  x = np.asarray(x, np.float64)
  return 0.5 + 0.4 * np.sin(np.stack([3 * x[:, 0], 2 * x[:, 1] + 1, 4 * x[:, 2] - 1], -1))


def test_sphere_is_watertight_at_its_radius_with_outward_normals():
  c, r0 = np.array([0.1, -0.2, 0.05]), 0.5
  out = mesh_lib.extract_mesh(sphere_density(c, r0), *BOX, resolution=40, threshold=50.0)
  v, f, step = out["vertices"], out["faces"], out["grid"].step
  dist = np.linalg.norm(v - c, axis=1)
  assert np.abs(dist - r0).max() < step
  m = trimesh.Trimesh(v, f, process=False)
  assert m.is_watertight and len(m.split(only_watertight=False)) == 1
  assert m.volume > 0  # consistently wound, outward
  assert np.all(np.einsum("ij,ij->i", out["normals"], (v - c) / dist[:, None]) > 0.9)
  np.testing.assert_allclose(m.volume, 4 / 3 * np.pi * r0 ** 3, rtol=0.03)


def test_simplify_keeps_the_sphere_with_a_quarter_of_the_faces():
  c, r0 = np.array([0.1, -0.2, 0.05]), 0.5
  full = mesh_lib.extract_mesh(sphere_density(c, r0), *BOX, resolution=40, threshold=50.0)
  out = mesh_lib.extract_mesh(sphere_density(c, r0), *BOX, resolution=40, threshold=50.0,
                              color_fn=smooth_color, simplify_keep=0.25)
  v, f, step = out["vertices"], out["faces"], out["grid"].step
  assert 0.2 * len(full["faces"]) <= len(f) <= 0.3 * len(full["faces"])
  assert np.abs(np.linalg.norm(v - c, axis=1) - r0).max() < step
  m = trimesh.Trimesh(v, f, process=False)
  assert m.is_watertight and m.volume > 0
  np.testing.assert_allclose(m.volume, 4 / 3 * np.pi * r0 ** 3, rtol=0.03)
  assert f.max() == len(v) - 1 and out["colors"].shape == v.shape  # compact, every vertex coloured
  np.testing.assert_allclose(out["colors"], smooth_color(v), atol=1e-6)
  # An open border (a crop) keeps its outline.
  half = [np.array([-1.0, -1.0, c[2]]), np.ones(3)]
  cut = mesh_lib.extract_mesh(sphere_density(c, r0), *half, resolution=40, threshold=50.0)
  low = mesh_lib.simplify(cut["vertices"], cut["faces"], 0.25)
  border = lambda v, f: v[np.unique(trimesh.Trimesh(v, f, process=False).outline().entities[0]
                                    .points)]
  b0, b1 = border(cut["vertices"], cut["faces"]), border(*low)
  assert len(b1) == len(b0) and np.abs(b1[:, 2] - b0[:, 2].mean()).max() < 1e-9


def test_default_bounds_and_small_components():
  c, r0 = np.array([0.1, -0.2, 0.05]), 0.4
  big, blob = sphere_density(c, r0), sphere_density([-0.75, 0.75, 0.75], 0.1)
  both = lambda x: np.maximum(big(x), blob(x))
  (lo, hi), _ = mesh_lib.default_bounds(big, BOX, 50.0, coarse_resolution=32)
  step = 2.0 / 32
  assert np.all(lo <= c - r0) and np.all(lo >= c - r0 - 3 * step)
  assert np.all(hi >= c + r0) and np.all(hi <= c + r0 + 3 * step)
  kept = mesh_lib.extract_mesh(both, *BOX, resolution=32, threshold=50.0, min_component=0)
  m = trimesh.Trimesh(kept["vertices"], kept["faces"], process=False)
  assert len(m.split(only_watertight=False)) == 2
  cleaned = mesh_lib.extract_mesh(both, *BOX, resolution=32, threshold=50.0, min_component=0.2)
  v = cleaned["vertices"]
  assert np.abs(np.linalg.norm(v - c, axis=1) - r0).max() < 2.0 / 32  # only the big ball is left
  assert cleaned["faces"].max() == len(v) - 1  # unreferenced vertices dropped
  with pytest.raises(MeshError, match="no density above the threshold"):
    mesh_lib.extract_mesh(big, *BOX, resolution=8, threshold=1e3)


def test_vertex_colours_are_the_fields_colour_in_8bit_srgb(tmp_path):
  np.testing.assert_array_equal(mesh_lib.srgb8([[0.0, 0.5, 1.0], [0.0031308, 0.2, 2.0]]),
                                [[0, 188, 255], [10, 124, 255]])
  out = mesh_lib.extract_mesh(sphere_density([0, 0, 0], 0.6), *BOX, resolution=24, threshold=50.0,
                              color_fn=smooth_color, chunk=500)  # several colour chunks
  path = str(tmp_path / "m.ply")
  mesh_lib.write_mesh(path, out["vertices"], out["faces"], mesh_lib.srgb8(out["colors"]))
  m = trimesh.load(path, process=False)
  assert len(m.vertices) == len(out["vertices"]) and np.array_equal(m.faces, out["faces"])
  expect = mesh_lib.srgb8(smooth_color(m.vertices)).astype(int)
  assert np.abs(m.visual.vertex_colors[:, :3].astype(int) - expect).max() <= 1
  assert [f for f in os.listdir(tmp_path) if f != "m.ply"] == []  # no temporary file left


def _ring_cameras(n=4, dist=3.0):
  """n cameras on a circle around the origin, looking at it (100 x 100 pixels, 90 degree view)."""
  c2w = np.stack([camera_paths.look_at([dist * np.cos(a), dist * np.sin(a), 0.0], np.zeros(3),
                                 [0, 0, 1]) for a in 2 * np.pi * np.arange(n) / n])
  intr = np.tile([50.0, 50.0, 50.0, 50.0], (n, 1))
  return c2w, intr, 100, 100, np.full(n, 0.1), np.full(n, 10.0)


def test_vertex_colours_from_the_most_frontal_unoccluded_camera():
  cams = _ring_cameras()
  r = 0.5
  k = np.arange(400) + 0.5  # Fibonacci sphere
  z = 1 - 2 * k / 400
  phi = np.pi * (1 + 5 ** 0.5) * k
  normals = np.stack([np.sqrt(1 - z ** 2) * np.cos(phi), np.sqrt(1 - z ** 2) * np.sin(phi), z], -1)
  points = r * normals
  cam_rgb = np.eye(4)[:, :3] + 0.1  # camera j's colour
  occluded = set()

  def render_fn(cam, uv):  # the ball seen from camera `cam`; `occluded` cameras see a wall first
    c2w = cams[0][cam]
    d = camera.pixel_directions(uv[:, 0], uv[:, 1], c2w, tuple(cams[1][cam].T))
    o = c2w[:, :, 3]
    a, b, c = (d * d).sum(1), 2 * (o * d).sum(1), (o * o).sum(1) - r ** 2
    t = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    t = np.where(np.isin(cam, list(occluded)), 0.5 * t, t)
    return {"rgb": cam_rgb[cam], "depth": t}

  rgb, seen = mesh_lib.colors_from_views(points, normals, cams, render_fn, candidates=2)
  to_cam = cams[0][None, :, :, 3] - points[:, None]
  cos = np.einsum("nkj,nj->nk", to_cam / np.linalg.norm(to_cam, axis=-1, keepdims=True), normals)
  assert np.array_equal(seen, cos.max(1) > 0) and np.isnan(rgb[~seen]).all()
  np.testing.assert_allclose(rgb[seen], cam_rgb[np.argmax(cos, 1)][seen], atol=1e-6)
  occluded.add(0)  # camera 0 sees something else in front: the next camera, where there is one
  rgb, _ = mesh_lib.colors_from_views(points, normals, cams, render_fn, candidates=2)
  order = np.argsort(-cos, 1)
  first, second = order[:, 0], order[:, 1]
  moved = seen & (first == 0) & (cos[np.arange(len(cos)), second] > 0)
  stuck = seen & (first == 0) & ~moved
  assert moved.sum() > 10 and stuck.sum() > 10
  np.testing.assert_allclose(rgb[moved], cam_rgb[second[moved]], atol=1e-6)
  np.testing.assert_allclose(rgb[stuck], cam_rgb[np.zeros(stuck.sum(), int)], atol=1e-6)  # first kept


def test_bounds_keep_what_most_cameras_see():
  """seen_density(min_fraction): the origin (in all 4 ring cameras) keeps its density; a point
  behind camera 0 that only the opposite camera sees keeps it only with min_fraction <= 1/4."""
  cams = _ring_cameras(n=4)
  dens = lambda x: np.full(len(x), 100.0)
  pts = np.array([[0.0, 0.0, 0.0], [3.5, 0.0, 0.0]])
  np.testing.assert_array_equal(mesh_lib.in_view(pts, *cams).sum(1), [4, 1])
  np.testing.assert_array_equal(mesh_lib.seen_density(dens, *cams)(pts), [100.0, 100.0])
  np.testing.assert_array_equal(mesh_lib.seen_density(dens, *cams, min_fraction=0.5)(pts),
                                [100.0, 0.0])


def test_hidden_surfaces_are_culled():
  """visible(): a ball seen by one camera keeps the cap that faces it and drops the far side;
  extract_mesh with that test keeps only faces there."""
  c2w, intr, h, w, near, far = _ring_cameras(n=4)
  intr = np.array([[200.0, 200.0, 50.0, 50.0]])  # the ball fills 68 of 100 pixels
  cams = (c2w[:1], intr, h, w, near[:1], far[:1])  # one camera, on +x
  r = 0.5
  py, px, stride = mesh_lib.depth_grid(h, w, max_pixels=2500)
  assert stride == 2 and py.shape == (50, 50)
  d = camera.pixel_directions(px.reshape(-1) + 0.5, py.reshape(-1) + 0.5, c2w[0], tuple(intr[0]))
  o = c2w[0, :, 3]
  a, b, cc = (d * d).sum(1), 2 * (d @ o), o @ o - r ** 2
  disc = b * b - 4 * a * cc
  t = np.where(disc > 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), far[0])
  depth = t.reshape(px.shape)[None]  # z-depth: directions have unit z
  out = mesh_lib.extract_mesh(sphere_density(np.zeros(3), r), *BOX, resolution=32, threshold=50.0)
  v = out["vertices"]
  seen = mesh_lib.visible(v, cams, depth, stride, tol=out["grid"].step)
  to_cam = (o - v) / np.linalg.norm(o - v, axis=1, keepdims=True)
  facing = np.einsum("ij,ij->i", to_cam, v / np.linalg.norm(v, axis=1, keepdims=True))
  # Facing = cosine between the normal and the way to the camera: > 0 on the visible cap; points
  # just past the rim are within the tolerance.
  assert seen[facing > 0.05].all() and not seen[facing < -0.4].any()
  culled = mesh_lib.extract_mesh(sphere_density(np.zeros(3), r), *BOX, resolution=32,
                                 threshold=50.0,
                                 visible_fn=lambda x, n: mesh_lib.visible(x, cams, depth, stride,
                                                                          out["grid"].step))
  assert 0.3 * len(out["faces"]) < len(culled["faces"]) < 0.7 * len(out["faces"])
  assert culled["vertices"][:, 0].min() > -0.2


def test_hidden_backs_are_kept_with_normals():
  """visible(normals=...): a hidden point turned away from every camera that holds it (the back of
  an object) is kept; one a camera faces but does not see (behind another surface) still goes."""
  c2w, intr, h, w, near, far = _ring_cameras(n=4)
  cams = (c2w[:1], intr[:1], h, w, near[:1], far[:1])  # one camera at x = 3, looking at -x
  py, px, stride = mesh_lib.depth_grid(h, w, max_pixels=2500)
  depth = np.full((1,) + px.shape, 2.5)  # a wall at x = 0.5 fills the view
  pts = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.6, 0.0, 0.0], [-20.0, 0.0, 0.0]])
  normals = np.array([[-1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0], [-1.0, 0, 0]])
  # behind, facing away | behind, facing the camera | in front of the wall | outside the frustum
  np.testing.assert_array_equal(mesh_lib.visible(pts, cams, depth, stride, 0.01),
                                [False, False, True, False])
  np.testing.assert_array_equal(mesh_lib.visible(pts, cams, depth, stride, 0.01, normals),
                                [True, False, True, False])


def test_ground_band_drops_the_ground_left_above_the_floor_and_keeps_the_object():
  """A ball just above a bumpy ground, cut at a floor just under the bumps' tops: ground_band drops
  the up-facing ground bits above the floor; the ball's faces, lower half (in the band) included,
  all stay."""
  ball = sphere_density([0.0, 0.0, -0.22], 0.5)

  def density(x):
    x = np.asarray(x, np.float64)
    bump = 0.05 * np.cos(6 * x[:, 0]) * np.cos(6 * x[:, 1])  # ground at z = -0.8 +- 0.05
    ground = 100.0 / (1.0 + np.exp((x[:, 2] - (-0.8 + bump)) / 0.02))
    return np.maximum(ball(x), ground)

  lo, hi = np.array([-1.0, -1.0, -0.82]), np.ones(3)  # the crop floor, under the bumps' tops
  plain = mesh_lib.extract_mesh(density, lo, hi, resolution=48, threshold=50.0)
  cut = mesh_lib.extract_mesh(density, lo, hi, resolution=48, threshold=50.0, ground_band=0.15)
  on_ball = lambda v: np.abs(np.linalg.norm(v - [0.0, 0.0, -0.22], axis=1) - 0.5) < 0.05
  assert (~on_ball(plain["vertices"])).sum() > 100  # the bumps are there without the band
  assert on_ball(cut["vertices"]).all()  # ... and gone with it
  v = plain["vertices"]
  assert len(cut["vertices"]) == (on_ball(v) & (v[:, 2] > -0.74)).sum()  # the bumps stop at -0.75
  assert cut["vertices"][:, 2].min() < -0.7  # the ball's underside, facing down, stays


def test_world_units_and_world_crop(tmp_path):
  center, scale = np.array([10.0, -5.0, 2.0]), 0.25  # normalised = (world - center) * scale
  c_w, r_w = np.array([11.0, -4.0, 2.5]), 2.0
  density = sphere_density(mesh_lib.to_normalised(c_w, center, scale), r_w * scale)
  out = mesh_lib.extract_mesh(density, *BOX, resolution=40, threshold=50.0)
  v_w = mesh_lib.to_world(out["vertices"], center, scale)
  step_w = out["grid"].step / scale
  assert np.abs(np.linalg.norm(v_w - c_w, axis=1) - r_w).max() < step_w
  for ext in (".ply", ".obj", ".glb"):
    path = str(tmp_path / f"m{ext}")
    mesh_lib.write_mesh(path, v_w, out["faces"], mesh_lib.srgb8(np.full_like(v_w, 0.5)))
    m = trimesh.load(path, force="mesh", process=False)
    assert len(m.faces) == len(out["faces"])
    np.testing.assert_allclose(np.sort(m.vertices, 0), np.sort(v_w, 0), atol=1e-4)
  # Keep what lies above the sphere's centre: a hemisphere, open at the cut.
  crop = mesh_lib.box_to_normalised([-np.inf, -np.inf, c_w[2]], [np.inf] * 3, center, scale)
  (lo, hi), _ = mesh_lib.default_bounds(density, BOX, 50.0, crop=crop)
  half = mesh_lib.extract_mesh(density, lo, hi, resolution=40, threshold=50.0)
  h_w = mesh_lib.to_world(half["vertices"], center, scale)
  step_w = half["grid"].step / scale
  assert h_w[:, 2].min() >= c_w[2] - 1e-6 and h_w[:, 2].max() > c_w[2] + r_w - step_w
  assert np.abs(np.linalg.norm(h_w - c_w, axis=1) - r_w).max() < step_w
  assert h_w[:, 2].min() < c_w[2] + step_w  # reaches down to the cut
  assert not trimesh.Trimesh(h_w, half["faces"], process=False).is_watertight
  with pytest.raises(MeshError, match="does not meet"):
    mesh_lib.default_bounds(density, BOX, 50.0, crop=mesh_lib.box_to_normalised(
        [100, 100, 100], [101, 101, 101], center, scale))


def test_export_rejects_bad_options_before_loading_the_run(tmp_path):
  wd, out = str(tmp_path / "no_run"), str(tmp_path / "m.ply")
  for kwargs, flag in [({"simplify": 0.0}, "--simplify"), ({"simplify": 1.5}, "--simplify"),
                       ({"ground_band": 1.0}, "--ground_band"), ({"threshold": -1.0}, "--threshold"),
                       ({"output": str(tmp_path / "m.stl")}, "--output")]:
    with pytest.raises(ValueError, match=flag):
      mesh_export.export(wd, **{"output": out, **kwargs})
  assert os.listdir(tmp_path) == []


def test_auto_threshold_follows_a_weak_field():
  assert mesh_lib.auto_threshold(np.array([0.0, 30.0]), 40.0) == 15.0  # short run: half its max
  assert mesh_lib.auto_threshold(np.array([0.0, 500.0]), 40.0) == 40.0  # dense enough: default
  with pytest.raises(MeshError, match="no density"):
    mesh_lib.auto_threshold(np.zeros(4), 40.0)
  (lo, hi), thr = mesh_lib.default_bounds(sphere_density([0, 0, 0], 0.5), BOX, None,
                                          coarse_resolution=16, auto_default=1e6)
  assert 0 < thr < 1e6 and np.all(hi > lo)


def test_export_with_evaluation_depth_matches_its_own(tiny_run, tmp_path):
  """Culling against evaluation's depth maps (reconstruct reuses them) gives the mesh that
  rendering them again gives."""
  from macro_nerf.export.evaluation import evaluate  # pylint: disable=import-outside-toplevel
  wd, threshold = tiny_run
  wd = shutil.copytree(wd, str(tmp_path / "wd"))  # the shared run stays as it is
  depth = tmp_path / "depth"
  evaluate(wd, progress=False)
  os.rename(os.path.join(wd, "eval", "depth"), depth)
  kw = dict(resolution=24, threshold=threshold, min_component=0, progress=False)
  a = mesh_export.export(wd, str(tmp_path / "a.ply"), **kw)
  b = mesh_export.export(wd, str(tmp_path / "b.ply"), depth_dir=str(depth), **kw)
  assert a["faces"] == b["faces"] > 0
  # Evaluation's own folder is found by default when it ran on this checkpoint.
  os.rename(depth, os.path.join(wd, "eval", "depth"))
  step = int(json.load(open(os.path.join(wd, "eval", "metrics.json")))["step"])
  assert mesh_export.eval_depth_dir(wd, step) == os.path.join(wd, "eval", "depth")
  assert mesh_export.eval_depth_dir(wd, step + 1) is None


def _export(*args):
  return subprocess.Popen([sys.executable, "-m", "macro_nerf.export_mesh", *args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_export_mesh_cli(tiny_run, tmp_path):
  wd, threshold = tiny_run
  out, bad = tmp_path / "m.ply", tmp_path / "none.ply"
  # All three at once (each mostly waits on one core for JAX start-up and compiles).
  ok = _export(f"--workdir={wd}", f"--output={out}", "--resolution=32",
               f"--threshold={threshold}", "--min_component=0", "--chunk=4096")
  low = _export(f"--workdir={wd}", f"--output={tmp_path / 'low.glb'}", "--resolution=32",
                f"--threshold={threshold}", "--min_component=0", "--chunk=4096", "--simplify=0.5")
  none = _export(f"--workdir={wd}", f"--output={bad}", "--resolution=32", "--threshold=1e9")
  _, err = ok.communicate()
  assert ok.returncode == 0, err[-2000:]
  m = trimesh.load(str(out), process=False)
  assert len(m.faces) > 0 and m.visual.vertex_colors.shape == (len(m.vertices), 4)
  _, err = low.communicate()
  assert low.returncode == 0, err[-2000:]
  m_low = trimesh.load(str(tmp_path / "low.glb"), force="mesh", process=False)
  assert len(m_low.faces) <= 0.55 * len(m.faces)
  assert m_low.visual.vertex_colors.shape == (len(m_low.vertices), 4)
  # Nothing above the threshold: one line, a non-zero exit, no file.
  _, err = none.communicate()
  lines = err.strip().splitlines()
  assert none.returncode != 0 and lines[-1].startswith("error: no density above the threshold")
  assert not bad.exists() and sorted(os.listdir(tmp_path)) == ["low.glb", "m.ply"]
