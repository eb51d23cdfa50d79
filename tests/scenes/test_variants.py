"""Scene variants of the thin-lens generator: unchanged defaults, photo noise, far backdrop, fine
texture and the objects' mesh (object.ply)."""
import json

import numpy as np
import pytest
from PIL import Image

from macro_nerf.scenes import surface, synthetic, variants

W, H, K = 24, 18, 4


def _png(path):
  return np.asarray(Image.open(path)).astype(np.int64)


def _camera(tr, i):
  return synthetic.opengl_to_cv(tr["frames"][i]["transform_matrix"])


def test_default_output_is_unchanged(tmp_path):
  """A fingerprint of render_scene's default output, taken before the variants existed (lens to
  1e-9, pixel sums to a few levels, depth sums to 1e-6)."""
  out = tmp_path / "s"
  synthetic.render_scene(out, num_views=3, width=16, height=12, hold=2, lens_samples=2, seed=5,
                         progress=False)
  lens = json.loads((out / "lens.json").read_text())
  assert set(lens) == {"hold", "focal_px", "views"} and not (out / "object.ply").exists()
  got = [(v["focus_distance"], v["aperture_radius"]) for v in lens["views"]]
  np.testing.assert_allclose(got, [(5.732911360808, 0.365713304943),
                                   (4.469360059526, 0.367437898043),
                                   (3.289106675782, 0.200577982133)], rtol=1e-9)
  for sub, sums in (("images", [69565, 70767, 75331]), ("images_sharp", [69565, 71591, 75331])):
    got = [_png(out / sub / f"{i:03d}.png").sum() for i in range(3)]
    np.testing.assert_allclose(got, sums, atol=8)
  depth = [np.load(out / "depth" / f"{i:03d}.npy").astype(np.float64).sum() for i in range(3)]
  np.testing.assert_allclose(depth, [928.0534212589264, 825.2792870998383, 761.461553812027],
                             rtol=1e-6)
  assert np.array_equal(_png(out / "images" / "000.png"), _png(out / "images_sharp" / "000.png"))


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
  out = tmp_path_factory.mktemp("noisy") / "s"
  synthetic.render_scene(out, num_views=4, width=W, height=H, hold=2, lens_samples=K, seed=2,
                         noise_std=0.02, progress=False)
  return out


def _noise_std(noisy_u8, clean_u8):
  """Std (sRGB [0, 1] units) of noisy - clean away from clipping, less the two roundings."""
  keep = (clean_u8 > 15) & (clean_u8 < 240)
  d = (noisy_u8 - clean_u8)[keep].astype(np.float64)
  return np.sqrt(max(d.var() - 1 / 6, 0.0)) / 255.0, keep.sum()


def test_noise_has_the_requested_std_and_references_stay_clean(noisy):
  lens = json.loads((noisy / "lens.json").read_text())
  tr = json.loads((noisy / "transforms.json").read_text())
  assert lens["noise_std"] == 0.02
  for i, v in enumerate(lens["views"]):
    kw = dict(focus=v["focus_distance"], samples=K, seed=(2, i))
    sharp = synthetic.render_view(synthetic.default_scene(), _camera(tr, i), tr["fl_x"], W, H,
                                  aperture=0.0, **kw)
    ref = _png(noisy / "images_sharp" / v["file"])
    assert np.abs(synthetic.to_uint8(sharp).astype(np.int64) - ref).max() <= 1  # noise-free
    if v["held_out_sharp"]:  # a held-out sharp capture is a photo too: the same noise level
      clean = ref
    else:
      blur = synthetic.render_view(synthetic.default_scene(), _camera(tr, i), tr["fl_x"], W, H,
                                   aperture=v["aperture_radius"], **kw)
      clean = synthetic.to_uint8(blur).astype(np.int64)
    std, n = _noise_std(_png(noisy / "images" / v["file"]), clean)
    assert n > 0.8 * W * H * 3
    assert std == pytest.approx(0.02, rel=0.08), (i, std)


def test_noise_is_seeded_and_independent_of_threads(noisy, tmp_path):
  out = tmp_path / "again"
  synthetic.render_scene(out, num_views=4, width=W, height=H, hold=2, lens_samples=K, seed=2,
                         noise_std=0.02, progress=False, workers=2)
  for i in range(4):
    assert np.array_equal(_png(out / "images" / f"{i:03d}.png"),
                          _png(noisy / "images" / f"{i:03d}.png"))
  a, b = (_png(noisy / "images" / f"{i:03d}.png") - _png(noisy / "images_sharp" / f"{i:03d}.png")
          for i in (0, 2))
  assert not np.array_equal(a, b)  # each view draws its own noise


def _far_scene(tmp_path_factory):
  out = tmp_path_factory.mktemp("far") / "s"
  entry = variants.DEV_SCENES["fwd_far_lo"]
  kw = variants.render_kwargs(entry)
  kw.update(num_views=5, noise_std=0.0)
  synthetic.render_scene(out, width=40, height=30, lens_samples=2, progress=False, **kw)
  return out, kw["scene"]


@pytest.fixture(scope="module")
def far(tmp_path_factory):
  return _far_scene(tmp_path_factory)


def test_backdrop_is_finite_far_and_never_in_focus(far):
  out, scene = far
  lens = json.loads((out / "lens.json").read_text())
  tr = json.loads((out / "transforms.json").read_text())
  nobj = len(scene["sphere_radius"]) + len(scene["box_lo"])
  seen = []
  for i, v in enumerate(lens["views"]):
    z = np.load(out / "depth" / v["file"].replace(".png", ".npy")).astype(np.float64)
    assert np.isfinite(z).all() and z.min() > 0
    _, ids = synthetic.depth_and_ids(scene, _camera(tr, i), tr["fl_x"], tr["w"], tr["h"])
    back, obj = ids == nobj + 1, (ids >= 1) & (ids <= nobj)
    seen.append(back.mean())
    if back.any():
      # 3x the object distance and more; focus stays on the objects.
      assert z[back].min() > 2.5 * v["focus_distance"]
      assert z[obj].min() - 1e-4 <= v["focus_distance"] <= z[obj].max() + 1e-4
      if not v["held_out_sharp"]:
        r = v["coc_scale_px"] * (1 / v["focus_distance"] - 1 / z[back])
        assert r.min() > 2.0  # blurred in every photo
  assert np.mean(seen) > 0.08


def test_shadow_rays_ignore_the_backdrop():
  """Points on the ground in the open stay lit with a backdrop around them (the cylinder is
  behind every sun ray from inside)."""
  base = synthetic.default_scene()
  scene = variants.with_backdrop(base)
  o = np.array([[2.5, -2.5, 3.0], [-3.0, 3.0, 3.0]])
  d = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
  a, _ = synthetic.shade(base, o, d)
  b, _ = synthetic.shade(scene, o, d)
  np.testing.assert_array_equal(a, b)


def test_fine_texture_has_more_high_frequencies():
  base = variants.cluster_scene()
  fine = variants.with_fine_texture(base)
  assert base["texture"][1] == "stripes" and fine["texture"][0] == "ground"
  # Points along a line on the front face of the first box (y = lo_y).
  sid = 1 + len(base["sphere_radius"])
  lo, hi = base["box_lo"][0], base["box_hi"][0]
  x = np.linspace(lo[0], hi[0], 400)
  p = np.stack([x, np.full_like(x, lo[1]), np.full_like(x, 0.5 * (lo[2] + hi[2]))], 1)
  ids = np.full(len(p), sid)
  tv = [np.abs(np.diff(synthetic.albedo(s, p, ids), axis=0)).sum() for s in (base, fine)]
  assert tv[1] > 1.4 * tv[0]


def _read_ply(path):
  """Ascii PLY -> float64 vertices (V, 3), faces (F, 3), read without trimesh."""
  lines = path.read_text().splitlines()
  end = lines.index("end_header")
  nv = int(next(ln for ln in lines if ln.startswith("element vertex")).split()[-1])
  verts = np.array([[float(t) for t in ln.split()] for ln in lines[end + 1:end + 1 + nv]])
  faces = np.array([[int(t) for t in ln.split()] for ln in lines[end + 1 + nv:]])
  assert (faces[:, 0] == 3).all()
  return verts, faces[:, 1:]


def _surface_distance(scene, x):
  """Distance (N,) from points to the nearest sphere or box surface, float64."""
  d = [np.abs(np.linalg.norm(x[:, None] - scene["sphere_center"][None], axis=-1)
              - scene["sphere_radius"][None])]
  for lo, hi in zip(scene["box_lo"], scene["box_hi"]):
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    q = np.abs(x - c) - h
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
    d.append(np.abs(outside + np.minimum(q.max(1), 0.0))[:, None])
  return np.concatenate(d, axis=1).min(1)


def test_object_mesh_lies_on_the_objects(far):
  out, scene = far
  verts, faces = _read_ply(out / "object.ply")
  ref_v, ref_f = surface.object_mesh(scene)
  np.testing.assert_array_equal(verts, ref_v)  # exact float64 round trip
  np.testing.assert_array_equal(faces, ref_f)
  ns, nb = len(scene["sphere_radius"]), len(scene["box_lo"])
  assert len(verts) == ns * (6 * 24 ** 2 + 2) + nb * 8
  assert _surface_distance(scene, verts).max() < 1e-12
  lo = np.minimum((scene["sphere_center"] - scene["sphere_radius"][:, None]).min(0),
                  scene["box_lo"].min(0))
  hi = np.maximum((scene["sphere_center"] + scene["sphere_radius"][:, None]).max(0),
                  scene["box_hi"].max(0))
  np.testing.assert_allclose(verts.min(0), lo, atol=1e-12)
  np.testing.assert_allclose(verts.max(0), hi, atol=1e-12)
  # The same frame as the cameras: object pixels lifted with their true depth land on it.
  tr = json.loads((out / "transforms.json").read_text())
  c2w = _camera(tr, 1)
  z = np.load(out / "depth" / "001.npy").astype(np.float64)
  _, ids = synthetic.depth_and_ids(scene, c2w, tr["fl_x"], tr["w"], tr["h"])
  v, u = np.nonzero((ids >= 1) & (ids <= ns + nb))
  cam = np.stack([(u + 0.5 - tr["cx"]) / tr["fl_x"], (v + 0.5 - tr["cy"]) / tr["fl_y"],
                  np.ones(len(u))], 1) * z[v, u][:, None]
  x = cam @ c2w[:, :3].T + c2w[:, 3]
  assert len(x) > 50 and _surface_distance(scene, x).max() < 1e-5


def test_object_mesh_is_closed_and_outward():
  trimesh = pytest.importorskip("trimesh")
  scene = variants.cluster_scene()
  mesh = trimesh.Trimesh(*surface.object_mesh(scene), process=False)
  assert mesh.is_watertight and mesh.is_winding_consistent
  volume = (4 / 3 * np.pi * scene["sphere_radius"] ** 3).sum() + np.prod(
      scene["box_hi"] - scene["box_lo"], axis=1).sum()
  assert mesh.volume == pytest.approx(volume, rel=0.005)


@pytest.mark.parametrize("name", sorted(variants.OBJECTS))
def test_objects_rest_on_the_ground_apart(name):
  s = variants.OBJECTS[name]()
  c, r, lo, hi = s["sphere_center"], s["sphere_radius"], s["box_lo"], s["box_hi"]
  assert len(s["texture"]) == len(s["palette"]) == 1 + len(r) + len(lo)
  np.testing.assert_allclose(c[:, 2], r)
  np.testing.assert_allclose(lo[:, 2], 0.0)
  gap = np.linalg.norm(c[:, None] - c[None], axis=-1) - r[:, None] - r[None]
  assert (gap[~np.eye(len(r), dtype=bool)] > 0.05).all()
  for a, b in zip(lo, hi):
    near = np.clip(c, a, b)
    assert (np.linalg.norm(c - near, axis=1) - r > 0.05).all()
  for i in range(len(lo)):
    for j in range(i):
      assert ((lo[i] > hi[j]) | (lo[j] > hi[i])).any()
