"""Photos in, poses out: the COLMAP tool, COLMAP models, lens distortion and the EXIF prior."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from helpers import DEV_VIEWS, REPO, dev_scene, llff_config, tiny_config
from macro_nerf.data import colmap as colmap_model, distortion, exif, sfm
from macro_nerf.data.images import load_image
from macro_nerf.data.nerfstudio import load_transforms
from macro_nerf.data.scene import load_scene
from macro_nerf.defocus import lens
from macro_nerf.errors import DataError
from macro_nerf.nerf.camera import llff_to_opengl
from macro_nerf.training.loop import train



def _load(path, **kw):
  return load_scene(llff_config(path, **kw))


TURNED = {"003.png": 6, "005.png": 3}  # photos stored turned, upright by their EXIF orientation


def _turned_copy(src, dst):
  """The photos of `src` in `dst`, TURNED ones stored as a camera held sideways or upside down
  stores them, and a macOS AppleDouble file and .DS_Store beside them."""
  os.makedirs(dst)
  for n in sorted(os.listdir(src)):
    with Image.open(os.path.join(src, n)) as im:
      if n not in TURNED:
        im.save(os.path.join(dst, n))
        continue
      exif = Image.Exif()
      exif[ExifTags.Base.Orientation] = TURNED[n]
      stored = im.transpose(Image.Transpose.ROTATE_90 if TURNED[n] == 6 else
                            Image.Transpose.ROTATE_180)
      stored.save(os.path.join(dst, n), exif=exif)
  with open(os.path.join(dst, "._000.png"), "wb") as f:
    f.write(b"\x00\x05\x16\x07AppleDouble")
  with open(os.path.join(dst, ".DS_Store"), "wb") as f:
    f.write(b"\x00")


@pytest.fixture(scope="module")
def dev_sfm(tmp_path_factory):
  """SfM on the development scene's sharp photos, some stored turned (and hidden files beside
  them), under umask 022."""
  root = tmp_path_factory.mktemp("sfm")
  _turned_copy(os.path.join(dev_scene(), "images_sharp"), str(root / "photos"))
  old = os.umask(0o022)
  try:
    report = sfm.run(str(root / "photos"), str(root / "scene"))
  finally:
    os.umask(old)
  return root / "scene", report


def test_sfm_recovers_the_camera_centres_within_1pct(dev_sfm):
  out, report = dev_sfm
  assert report["registered"] == report["total"] == DEV_VIEWS
  assert sorted(os.listdir(out)) == ["colmap_report.json", "images", "poses_bounds.npy", "sparse",
                                     "transforms.json"]
  for d in (out, out / "images", out / "sparse", out / "sparse" / "0"):
    assert os.stat(d).st_mode & 0o777 == 0o755, d  # the umask's, not mkdtemp's 0700
  truth = np.load(os.path.join(dev_scene(), "poses_bounds.npy"))
  est = np.load(out / "poses_bounds.npy")
  gt_c = llff_to_opengl(truth[:, :15].reshape(-1, 3, 5)[:, :, :4])[:, :, 3]
  est_c = llff_to_opengl(est[:, :15].reshape(-1, 3, 5)[:, :, :4])[:, :, 3]
  s, r, t = colmap_model.similarity_align(est_c, gt_c)
  err = np.linalg.norm(s * est_c @ r.T + t - gt_c, axis=1)
  size = np.linalg.norm(np.ptp(gt_c, 0))  # the camera spread: smaller than the scene, stricter
  assert err.max() < 0.01 * size, err.max() / size
  # Focal length in pixels, against the truth.
  np.testing.assert_allclose(est[:, 14], truth[:, 14], rtol=0.01)
  assert np.all(est[:, 15] > 0) and np.all(est[:, 16] > est[:, 15])


def test_sfm_output_reads_the_same_in_every_format(dev_sfm, tmp_path):
  out, _ = dev_sfm
  a = _load(out)  # transforms.json: it has bounds, and the principal point poses_bounds lacks
  frames = json.loads((out / "transforms.json").read_text())["frames"]
  np.testing.assert_allclose(a.intrinsics[:, 2], [f["cx"] for f in frames], rtol=1e-6)
  shutil.copytree(out, tmp_path / "tf", ignore=shutil.ignore_patterns("transforms.json"))
  b = _load(tmp_path / "tf")  # poses_bounds.npy
  # sparse/0 next to the original (distorted) photos: undistorted at load time.
  os.makedirs(tmp_path / "model" / "sparse")
  shutil.copytree(out / "sparse" / "0", tmp_path / "model" / "sparse" / "0")
  os.symlink(os.path.join(dev_scene(), "images_sharp"), tmp_path / "model" / "images")
  c = _load(tmp_path / "model")
  for other in (b, c):
    assert other.names == a.names
    np.testing.assert_allclose(other.c2w, a.c2w, atol=1e-5)
    np.testing.assert_allclose(other.intrinsics, a.intrinsics, rtol=1e-5)
    np.testing.assert_allclose(other.near, a.near, rtol=1e-5)
  np.testing.assert_array_equal(b.images, a.images)
  assert np.abs(c.images - a.images).max() <= 1.0 / 255  # the tool rounds to 8 bits


def test_existing_sparse_model_binary_and_text(dev_sfm, tmp_path):
  out, _ = dev_sfm
  rec = colmap_model.read_reconstruction(str(out / "sparse" / "0"))
  os.makedirs(tmp_path / "txt")
  rec.write_text(str(tmp_path / "txt"))
  photos = os.path.join(dev_scene(), "images_sharp")
  r_bin = sfm.run(photos, str(tmp_path / "from_bin"), sparse=str(out / "sparse" / "0"))
  r_txt = sfm.run(photos, str(tmp_path / "from_txt"), sparse=str(tmp_path / "txt"))
  assert r_bin["registered"] == r_txt["registered"] == DEV_VIEWS
  a = np.load(tmp_path / "from_bin" / "poses_bounds.npy")
  np.testing.assert_allclose(np.load(tmp_path / "from_txt" / "poses_bounds.npy"), a, rtol=1e-6,
                             atol=1e-6)
  np.testing.assert_allclose(a, np.load(out / "poses_bounds.npy"), rtol=1e-6, atol=1e-6)


def _noise_photos(folder, n=5, size=(64, 48), seed=0):
  rng = np.random.default_rng(seed)
  os.makedirs(folder)
  for i in range(n):
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        os.path.join(folder, f"{i:03d}.png"))


def test_too_few_registered_photos_fail_clearly_and_write_nothing(tmp_path):
  _noise_photos(tmp_path / "photos")  # nothing in common: nothing registers
  out = tmp_path / "scene"
  r = subprocess.run([sys.executable, "-m", "macro_nerf.tools.colmap", str(tmp_path / "photos"),
                      "--output", str(out)], capture_output=True, text=True, cwd=REPO)
  assert r.returncode != 0
  err = r.stderr.strip().splitlines()
  assert err[-1].startswith("error: ") and "0/5 photos registered" in err[-1], r.stderr
  assert str(tmp_path / "photos") in err[-1]
  assert "Traceback" not in r.stderr
  assert sorted(os.listdir(tmp_path)) == ["photos"]  # no scene, no temporary folder


@pytest.mark.parametrize("case", ["missing", "empty", "unreadable", "mixed", "output_not_empty",
                                  "bad_model"])
def test_tool_bad_input(tmp_path, case):
  photos = tmp_path / "photos"
  out = tmp_path / "scene"
  sparse = None
  if case == "missing":
    msg = "image folder does not exist"
  elif case == "empty":
    os.makedirs(photos)
    msg = "no images found"
  else:
    _noise_photos(photos, n=3)
    if case == "unreadable":
      (photos / "001.png").write_bytes(b"not a png")
      msg, photos_msg = "cannot read image", photos / "001.png"
    elif case == "mixed":
      Image.new("RGB", (32, 32)).save(photos / "002.png")
      msg = "mixed sizes"
    elif case == "output_not_empty":
      os.makedirs(out)
      (out / "keep.txt").write_text("mine")
      msg = "exists and is not empty"
    elif case == "bad_model":
      os.makedirs(tmp_path / "model")
      (tmp_path / "model" / "cameras.txt").write_text("garbage")
      sparse = str(tmp_path / "model")
      msg = "not a COLMAP model"
  before = sorted(os.listdir(tmp_path))
  with pytest.raises(DataError, match=msg) as e:
    sfm.run(str(photos), str(out), sparse=sparse)
  assert len(str(e.value).splitlines()) == 1
  assert sorted(os.listdir(tmp_path)) == before
  if case == "output_not_empty":
    assert os.listdir(out) == ["keep.txt"]


# ----------------------------------------------------------------------------- distortion

def _undistort_reference(xd, yd, model, coeffs, iters=50):
  """Inverse of distortion.distort by fixed-point iteration (float64)."""
  x, y = xd.copy(), yd.copy()
  for _ in range(iters):
    dx, dy = distortion.distort(x, y, model, coeffs)
    x, y = x - (dx - xd), y - (dy - yd)
  return x, y


@pytest.mark.parametrize("model,coeffs", [
    ("OPENCV", {"k1": -0.12, "k2": 0.03, "p1": 0.002, "p2": -0.001}),
    ("OPENCV_FISHEYE", {"k1": 0.05, "k2": -0.01, "k3": 0.0, "k4": 0.0}),
])
def test_undistort_matches_the_pinhole_photo(model, coeffs):
  h, w = 60, 80
  intr = (70.0, 72.0, 41.0, 29.5)
  pattern = lambda x, y: 0.5 + 0.25 * np.sin(5 * x + 1) * np.cos(4 * y) + 0.2 * x * y
  # The distorted photo: pixel (row, col) shows the pinhole point its ray came through.
  v, u = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
  xd, yd = (u - intr[2]) / intr[0], (v - intr[3]) / intr[1]
  x, y = _undistort_reference(xd, yd, model, coeffs)
  photo = pattern(x, y)[..., None].repeat(3, -1)
  out, shift = distortion.undistort(photo, model, coeffs, intr)
  assert shift > 1.0
  expect = pattern((u - intr[2]) / intr[0], (v - intr[3]) / intr[1])
  inner = (slice(8, -8), slice(8, -8))
  np.testing.assert_allclose(out[inner][..., 0], expect[inner], atol=2e-3)
  # Pinhole, or distortion far below a pixel, leaves the photo untouched.
  assert distortion.undistort(photo, "PINHOLE", {}, intr)[0] is photo
  assert distortion.undistort(photo, "OPENCV", {"k1": 1e-6}, intr)[0] is photo


def test_transforms_json_with_distortion_and_unknown_model(tmp_path):
  src = os.path.join(dev_scene(), "images_sharp")
  names = sorted(os.listdir(src))[:3]
  os.makedirs(tmp_path / "images")
  for n in names:
    shutil.copy(os.path.join(src, n), tmp_path / "images" / n)
  c2w = llff_to_opengl(np.load(os.path.join(dev_scene(), "poses_bounds.npy"))[:3, :15]
                       .reshape(-1, 3, 5)[:, :, :4])
  meta = {"camera_model": "OPENCV", "fl_x": 274.7, "fl_y": 274.7, "cx": 100.0, "cy": 75.0,
          "w": 200, "h": 150, "k1": -0.1, "k2": 0.0, "p1": 0.0, "p2": 0.0,
          "frames": [{"file_path": f"images/{n}",
                      "transform_matrix": np.concatenate([m, [[0, 0, 0, 1]]]).tolist()}
                     for n, m in zip(names, c2w)]}
  (tmp_path / "transforms.json").write_text(json.dumps(meta))
  images = load_transforms(str(tmp_path))[0]
  raw = np.stack([load_image(os.path.join(src, n)) for n in names])
  intr = (274.7, 274.7, 100.0, 75.0)
  np.testing.assert_allclose(images[0], distortion.undistort(raw[0], "OPENCV", meta, intr)[0])
  assert np.abs(images - raw).max() > 0.05
  meta["camera_model"] = "EQUIRECTANGULAR"
  (tmp_path / "transforms.json").write_text(json.dumps(meta))
  with pytest.raises(DataError, match="camera_model 'EQUIRECTANGULAR' is not supported"):
    load_transforms(str(tmp_path))


# ----------------------------------------------------------------------------- EXIF prior

def _jpeg_with_exif(path, focal_mm, f_number, focus_m):
  ex = Image.Exif()
  ifd = ex.get_ifd(ExifTags.IFD.Exif)
  ifd[ExifTags.Base.FocalLength] = IFDRational(int(focal_mm * 10), 10)
  ifd[ExifTags.Base.FNumber] = IFDRational(int(f_number * 100), 100)
  if focus_m is not None:
    ifd[ExifTags.Base.SubjectDistance] = IFDRational(int(focus_m * 1e6), 1000000)
  Image.new("RGB", (16, 12), (120, 80, 40)).save(path, quality=95, exif=ex)


def test_exif_read_and_recorded(tmp_path):
  _jpeg_with_exif(tmp_path / "a.jpg", 60.0, 8.0, 0.25)
  _jpeg_with_exif(tmp_path / "b.jpg", 60.0, 11.0, None)
  Image.new("RGB", (16, 12)).save(tmp_path / "c.png")
  e = exif.read_exif(tmp_path / "a.jpg")
  assert (e["focal_length_mm"], e["f_number"], e["focus_distance_m"]) == (60.0, 8.0, 0.25)
  assert exif.read_exif(tmp_path / "c.png")["f_number"] is None
  paths = [str(tmp_path / n) for n in ("a.jpg", "b.jpg", "c.png")]
  assert exif.write_exif_json(paths, str(tmp_path / "exif.json")) == 2
  f, n, s = exif.load_exif_json(str(tmp_path / "exif.json"), ["c.png", "a.jpg", "b.jpg"])
  np.testing.assert_array_equal(n[1:], [8.0, 11.0])
  assert np.isnan(n[0]) and np.isnan(s[2]) and s[1] == 0.25
  # A downsampled folder holds a.png for a.jpg: matched by stem.
  _, n2, s2 = exif.load_exif_json(str(tmp_path / "exif.json"), ["a.png", "b.png"])
  np.testing.assert_array_equal(n2, [8.0, 11.0])
  assert s2[0] == 0.25
  # No camera settings anywhere: no file.
  assert exif.write_exif_json(paths[2:], str(tmp_path / "none.json")) == 0
  assert not os.path.exists(tmp_path / "none.json")


def test_exif_coc_scale_matches_the_thin_lens_of_the_dev_scenes():
  """The generated scene was rendered with a real thin lens: kappa = f_px * aperture radius. The
  EXIF formula f_px f / (2N) with N = f / (2 * aperture radius) must give the same number."""
  meta = json.load(open(os.path.join(dev_scene(), "lens.json")))
  for v in meta["views"][:5]:
    f = 0.06
    n = f / (2 * v["aperture_radius"])
    np.testing.assert_allclose(exif.coc_scale(meta["focal_px"], f, n), v["coc_scale_px"],
                               rtol=1e-9)


def test_lens_from_exif_against_float64_reference():
  med = np.array([2.0, 2.4, 3.0, 2.2])  # median rendered depth, normalised units
  focus_m = np.array([0.10, 0.12, np.nan, 0.11])  # view 2 has no focus distance
  f_mm = np.array([60.0, 60.0, 60.0, np.nan])  # view 3 has no focal length
  f_num = np.array([8.0, 11.0, 8.0, 8.0])
  fpx = np.full(4, 500.0)
  near, far = np.full(4, 1.0), np.full(4, 6.0)
  log_k0 = np.full(4, 1.5)
  u, log_k, info = lens.lens_from_exif(med, f_mm, f_num, focus_m, fpx, near, far, log_k0)
  lam = np.median(med[[0, 1, 3]] / focus_m[[0, 1, 3]])
  s = np.array([lam * 0.10, lam * 0.12, 3.0, lam * 0.11])
  np.testing.assert_allclose(1 / (1 / far + u * (1 / near - 1 / far)), s, rtol=1e-12)
  kappa = lam * fpx * f_mm / 1000 / (2 * f_num)
  np.testing.assert_allclose(log_k[:3], np.log(kappa[:3]), rtol=1e-12)
  assert log_k[3] == 1.5
  assert info == {"views_focus": 3, "views_aperture": 3, "metres_to_scene": lam}
  assert lens.lens_from_exif(med, f_mm, f_num, np.full(4, np.nan), fpx, near, far, log_k0) is None


def test_training_starts_the_lens_from_exif(tiny_scene, tmp_path, capsys):
  """Photos with EXIF: after the warm-up each focus is the EXIF focus times one scene-wide
  factor, and kappa_i / s_i = f_px f / (2 N_i e_i) (the factor cancels)."""
  scene = tmp_path / "exif_scene"
  os.makedirs(scene / "images")
  shutil.copy(os.path.join(tiny_scene, "poses_bounds.npy"), scene)
  truth = {v["file"]: v for v in json.load(open(os.path.join(tiny_scene, "lens.json")))["views"]}
  names = sorted(os.listdir(os.path.join(tiny_scene, "images")))
  rng = np.random.default_rng(0)
  settings = {}
  for n in names:
    f_num = float(rng.uniform(4, 16))
    focus = truth[n]["focus_distance"]
    jpg = os.path.splitext(n)[0] + ".jpg"
    ex = Image.Exif()
    ifd = ex.get_ifd(ExifTags.IFD.Exif)
    ifd[ExifTags.Base.FocalLength] = IFDRational(600, 10)
    ifd[ExifTags.Base.FNumber] = IFDRational(int(f_num * 100), 100)
    ifd[ExifTags.Base.SubjectDistance] = IFDRational(int(focus * 1e6), 1000000)
    Image.open(os.path.join(tiny_scene, "images", n)).save(scene / "images" / jpg, quality=95,
                                                           exif=ex)
    settings[jpg] = (int(f_num * 100) / 100, int(focus * 1e6) / 1e6)
  photos = [str(scene / "images" / n) for n in sorted(settings)]
  assert exif.write_exif_json(photos, str(scene / "exif.json")) == len(names)
  c = tiny_config(str(scene))
  c.defocus.enabled = True
  c.defocus.patch_size = 8
  c.defocus.margin = 3
  c.defocus.warmup_steps = 2
  c.defocus.learn_lens = False  # keep the initial lens to compare it
  c.train.max_steps = 3
  _, _, state, _ = train(c, str(tmp_path / "wd"), progress=False)
  assert "lens from" in capsys.readouterr().out
  sc = load_scene(c)
  idx = sc.train_idx
  s, k = lens.lens_in_world({kk: np.asarray(v) for kk, v in state.params["lens"].items()},
                            sc.near[idx], sc.far[idx], sc.scale)
  f_num = np.array([settings[sc.names[i]][0] for i in idx])
  e = np.array([settings[sc.names[i]][1] for i in idx])
  inside = (s > 1.001 * sc.near[idx] / sc.scale) & (s < 0.999 * sc.far[idx] / sc.scale)
  assert inside.sum() >= 3  # focus clipped into a view's range cannot be compared
  ratio = s[inside] / e[inside]
  np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)
  fpx = sc.intrinsics[idx, 0]
  np.testing.assert_allclose((k / s)[inside], (fpx * 0.06 / (2 * f_num * e))[inside], rtol=1e-4)
