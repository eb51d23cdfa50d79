"""Tests of the synthetic thin-lens scene: file format, geometric consistency and lens physics."""
import json
import math

import numpy as np
import pytest
from PIL import Image

from macro_nerf.scenes import synthetic

W, H, N, HOLD, K = 32, 24, 6, 3, 4


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
  out = tmp_path_factory.mktemp("syn") / "scene"
  summary = synthetic.render_scene(out, num_views=N, width=W, height=H, hold=HOLD,
                                   lens_samples=K, seed=3, progress=False)
  return out, summary


def _load(out):
  lens = json.loads((out / "lens.json").read_text())
  tr = json.loads((out / "transforms.json").read_text())
  pb = np.load(out / "poses_bounds.npy")
  return lens, tr, pb


def _png(path):
  return np.asarray(Image.open(path)).astype(np.int32)


def test_files_and_schema(scene_dir):
  out, summary = scene_dir
  lens, tr, pb = _load(out)
  names = [f"{i:03d}" for i in range(N)]
  assert sorted(p.name for p in (out / "images").iterdir()) == [n + ".png" for n in names]
  assert not list(out.parent.glob(".scene.tmp*"))
  focal = W / (2 * math.tan(math.radians(20)))
  assert summary["focal_px"] == pytest.approx(focal)
  assert summary["held_out"] == [0, 3]

  # Images, sharp images and depth.
  for i, n in enumerate(names):
    for sub in ("images", "images_sharp"):
      im = Image.open(out / sub / f"{n}.png")
      assert im.mode == "RGB" and im.size == (W, H)
    d = np.load(out / "depth" / f"{n}.npy")
    assert d.dtype == np.float32 and d.shape == (H, W) and np.isfinite(d).all() and d.min() > 0
    same = np.array_equal(_png(out / "images" / f"{n}.png"),
                          _png(out / "images_sharp" / f"{n}.png"))
    assert same == (i % HOLD == 0)  # held-out views are sharp captures, the others are blurred

  # lens.json.
  assert lens["hold"] == HOLD and lens["focal_px"] == pytest.approx(focal)
  keys = {"file", "held_out_sharp", "focus_distance", "aperture_radius", "coc_scale_px", "near",
          "far"}
  for i, v in enumerate(lens["views"]):
    assert set(v) == keys and v["file"] == f"{i:03d}.png" and v["held_out_sharp"] == (i % HOLD == 0)
    d = np.load(out / "depth" / f"{i:03d}.npy")
    assert np.percentile(d, 20) - 1e-6 <= v["focus_distance"] <= np.percentile(d, 80) + 1e-6
    assert v["coc_scale_px"] == pytest.approx(focal * v["aperture_radius"])
    r_max = v["coc_scale_px"] * max(abs(1 / d.min() - 1 / v["focus_distance"]),
                                    abs(1 / d.max() - 1 / v["focus_distance"]))
    assert 2 * W / 80 - 1e-3 <= r_max <= 5 * W / 80 + 1e-3
    assert v["near"] < d.min() < d.max() < v["far"]

  # poses_bounds.npy (LLFF) and transforms.json (nerfstudio, OpenGL) describe the same cameras.
  assert pb.shape == (N, 17)
  assert tr["w"] == W and tr["h"] == H and tr["cx"] == W / 2 and tr["cy"] == H / 2
  assert tr["fl_x"] == tr["fl_y"] == pytest.approx(focal)
  assert tr["camera_angle_x"] == pytest.approx(math.radians(40))
  for i, (row, fr) in enumerate(zip(pb, tr["frames"])):
    m = row[:15].reshape(3, 5)
    np.testing.assert_allclose(m[:, 4], [H, W, focal])
    np.testing.assert_allclose(row[15:], [lens["views"][i]["near"], lens["views"][i]["far"]])
    llff = m[:, :4]
    gl = np.concatenate([llff[:, 1:2], -llff[:, 0:1], llff[:, 2:3], llff[:, 3:4]], axis=1)
    t = np.array(fr["transform_matrix"])
    assert fr["file_path"] == f"images/{i:03d}.png"
    np.testing.assert_allclose(t[:3], gl, atol=1e-12)
    np.testing.assert_allclose(t[3], [0, 0, 0, 1])
    np.testing.assert_allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-9)
    assert np.linalg.det(t[:3, :3]) == pytest.approx(1.0)


def _lift(depth, c2w, f, cx, cy, px, py):
  """Pixel centres (px, py) with their z-depth -> world points (OpenGL camera convention)."""
  z = depth[py, px].astype(np.float64)
  cam = np.stack([(px + 0.5 - cx) / f, -(py + 0.5 - cy) / f, -np.ones_like(z)], -1)
  return c2w[:3, 3] + z[:, None] * cam @ c2w[:3, :3].T


def _project(x, c2w, f, cx, cy):
  cam = (x - c2w[:3, 3]) @ c2w[:3, :3]
  z = -cam[:, 2]
  return cx + f * cam[:, 0] / z, cy - f * cam[:, 1] / z, z


@pytest.mark.parametrize("a,b", [(1, 2), (1, 5), (4, 0)])
def test_depth_reprojects_between_views(scene_dir, a, b):
  """Ground points lifted from view a land in view b at the depth view b recorded there."""
  out, _ = scene_dir
  _, tr, _ = _load(out)
  f, cx, cy = tr["fl_x"], tr["cx"], tr["cy"]
  ca, cb = (np.array(tr["frames"][k]["transform_matrix"]) for k in (a, b))
  da, db = (np.load(out / "depth" / f"{k:03d}.npy") for k in (a, b))
  py, px = np.mgrid[H // 4:3 * H // 4, W // 4:3 * W // 4]
  px, py = px.ravel(), py.ravel()
  x = _lift(da, ca, f, cx, cy, px, py)
  ground = np.abs(x[:, 2]) < 1e-4
  u, v, z = _project(x[ground], cb, f, cx, cy)
  i0, j0 = np.floor(u - 0.5).astype(int), np.floor(v - 0.5).astype(int)
  inside = (i0 >= 0) & (j0 >= 0) & (i0 + 1 < W) & (j0 + 1 < H)
  u, v, z, i0, j0 = u[inside], v[inside], z[inside], i0[inside], j0[inside]
  # Keep points whose four neighbouring pixel centres in view b all see the ground too.
  ok = np.ones(len(u), bool)
  for di in (0, 1):
    for dj in (0, 1):
      xb = _lift(db, cb, f, cx, cy, i0 + di, j0 + dj)
      ok &= np.abs(xb[:, 2]) < 1e-4
  assert ok.sum() >= 10
  u, v, z, i0, j0 = u[ok], v[ok], z[ok], i0[ok], j0[ok]
  # 1/z is affine in pixel coordinates on a plane, so its bilinear interpolation is exact.
  wx, wy = u - 0.5 - i0, v - 0.5 - j0
  inv = 1.0 / db.astype(np.float64)
  inv_b = ((1 - wx) * (1 - wy) * inv[j0, i0] + wx * (1 - wy) * inv[j0, i0 + 1]
           + (1 - wx) * wy * inv[j0 + 1, i0] + wx * wy * inv[j0 + 1, i0 + 1])
  np.testing.assert_allclose(1.0 / inv_b, z, rtol=1e-4)


def test_renders_reproduce_from_files(scene_dir):
  """Cameras read back from transforms.json re-render the saved images: aperture 0 gives the
  sharp image, the recorded lens gives the blurred one."""
  out, _ = scene_dir
  lens, tr, _ = _load(out)
  scene = synthetic.default_scene()
  for i in (1, 3):
    v = lens["views"][i]
    c2w = synthetic.opengl_to_cv(tr["frames"][i]["transform_matrix"])
    kw = dict(focus=v["focus_distance"], samples=K, seed=(3, i))
    sharp = synthetic.render_view(scene, c2w, tr["fl_x"], W, H, aperture=0.0, **kw)
    ref = _png(out / "images_sharp" / v["file"])
    assert np.abs(synthetic.to_uint8(sharp).astype(np.int32) - ref).max() <= 1
    if not v["held_out_sharp"]:
      blur = synthetic.render_view(scene, c2w, tr["fl_x"], W, H, aperture=v["aperture_radius"],
                                   **kw)
      ref = _png(out / "images" / v["file"])
      assert np.abs(synthetic.to_uint8(blur).astype(np.int32) - ref).max() <= 1


def test_blur_follows_thin_lens():
  """Blurred minus sharp is large where kappa |1/z - 1/s| is large and small where it is small."""
  w, h = 48, 36
  scene = synthetic.default_scene()
  focal = synthetic.focal_from_width(w)
  pos = synthetic.camera_positions(5, "forward", scene["center"])[2]
  c2w = synthetic.look_at(pos, scene["center"])
  depth = synthetic.depth_map(scene, c2w, focal, w, h)
  s = float(np.median(depth))
  kappa = 4.0 / max(abs(1 / depth.min() - 1 / s), abs(1 / depth.max() - 1 / s))  # 4 px at most
  kw = dict(focus=s, samples=16, seed=7)
  sharp = synthetic.render_view(scene, c2w, focal, w, h, aperture=0.0, **kw)
  blur = synthetic.render_view(scene, c2w, focal, w, h, aperture=kappa / focal, **kw)
  r = kappa * np.abs(1 / depth - 1 / s)
  diff = np.abs(blur - sharp).mean(-1)
  small, large = diff[r < 0.5], diff[r > 2.0]
  assert small.size > 50 and large.size > 50
  assert large.mean() > 3 * small.mean()
  # Energy is conserved: blur moves light around, it does not create or remove it (roughly).
  assert blur.mean() == pytest.approx(sharp.mean(), rel=0.05)


def test_orbit_layout_and_atomic_write(tmp_path, monkeypatch):
  out = tmp_path / "orbit"
  synthetic.render_scene(out, num_views=4, width=16, height=12, hold=8, lens_samples=2,
                         layout="orbit", progress=False)
  pb = np.load(out / "poses_bounds.npy")
  centres = pb[:, :15].reshape(-1, 3, 5)[:, :, 3]
  rel = centres - synthetic.default_scene()["center"]
  elev = np.degrees(np.arctan2(rel[:, 2], np.linalg.norm(rel[:, :2], axis=1)))
  np.testing.assert_allclose(elev, 30.0, atol=1e-6)
  az = np.sort(np.degrees(np.arctan2(rel[:, 1], rel[:, 0])) % 360)
  np.testing.assert_allclose(np.diff(az), 90.0, atol=1e-6)

  with pytest.raises(FileExistsError):
    synthetic.render_scene(out, num_views=2, width=8, height=6, lens_samples=1, progress=False)

  def fail(*args, **kwargs):
    raise RuntimeError("boom")

  monkeypatch.setattr(synthetic, "_write_files", fail)
  with pytest.raises(RuntimeError):
    synthetic.render_scene(tmp_path / "broken", num_views=2, width=8, height=6, lens_samples=1,
                           progress=False)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["orbit"]
