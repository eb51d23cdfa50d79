"""Photos in, results out: macro_nerf.reconstruct on a folder of JPEGs with no poses, killed in
training and run again; its outputs; the report in headless Chromium; bad input."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import ExifTags, Image

from helpers import REPO, dev_scene
from macro_nerf import reconstruct
from macro_nerf.export import photo_outputs, stages

TINY = {"model.log2_table_size": 10, "model.prop_log2_table_size": 10, "model.num_levels": 4,
        "model.max_resolution": 64, "model.prop_samples": "(16,)", "model.nerf_samples": 8,
        "train.batch_size": 64, "train.max_steps": 40, "train.checkpoint_every": 10,
        "train.log_every": 5, "eval.chunk": 1024, "defocus.patch_size": 8, "defocus.margin": 3}


def _cmd(photos, out, sharp):
  return ([sys.executable, "-m", "macro_nerf.reconstruct", str(photos), f"--output={out}",
           "--mesh_resolution=48", f"--config.data.eval_sharp_dir={sharp}"]
          + [f"--config.{k}={v}" for k, v in TINY.items()])


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
  """The dev scene's photos as JPEGs in a folder (no poses; one stored turned), reconstructed,
  SIGKILLed once training has checkpointed, then the same command again."""
  root = tmp_path_factory.mktemp("reconstruct")
  photos = root / "photos"
  photos.mkdir()
  src = os.path.join(dev_scene(), "images_sharp")  # SIFT needs the sharp texture at 200x150
  for n in sorted(os.listdir(src)):
    im = Image.open(os.path.join(src, n)).convert("RGB")
    if n == "003.png":  # stored as a camera held sideways stores it: upright by EXIF orientation
      exif = Image.Exif()
      exif[ExifTags.Base.Orientation] = 6
      im.transpose(Image.Transpose.ROTATE_90).save(photos / "003.jpg", quality=95, exif=exif)
    else:
      im.save(photos / (n[:-4] + ".jpg"), quality=95)
  out = root / "out"
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  cmd = _cmd(photos, out, os.path.join(dev_scene(), "images_sharp"))
  proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 600
  ckpt = out / "run" / "checkpoints" / "10"
  while not ckpt.is_dir() and time.time() < deadline and proc.poll() is None:
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  killed = json.loads((out / "progress.json").read_text())["done"]
  res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
  return photos, out, killed, res


def test_killed_in_training_then_resumed(killed_and_resumed):
  _, out, killed, res = killed_and_resumed
  assert res.returncode == 0, res.stderr[-3000:]
  assert "poses" in killed and "train" not in killed  # killed in training, after SfM
  assert "[1/8]" not in res.stdout  # structure-from-motion is not run again
  assert f"open: {out / 'report.html'}" in res.stdout
  log = [json.loads(line) for line in (out / "run" / "train_log.jsonl").read_text().splitlines()]
  assert log[-1]["step"] == TINY["train.max_steps"]
  done = json.loads((out / "progress.json").read_text())["done"]
  assert list(done) == list(stages.STAGES)


def test_every_photo_gets_its_outputs(killed_and_resumed):
  photos, out, _, _ = killed_and_resumed
  names = sorted(os.listdir(photos))
  for n in names:
    stem = n[:-4]
    with Image.open(out / "all_in_focus" / (stem + ".png")) as b:
      assert b.size == (200, 150)  # the photo's upright size (003.jpg is stored 150x200)
    depth = np.load(out / "depth" / (stem + ".npy"))
    assert depth.shape == (150, 200) and np.isfinite(depth).all()
  lens = json.loads((out / "lens.json").read_text())["views"]
  assert [v["file"] for v in lens] == names
  assert all(v["focus_distance"] > 0 and v["kappa"] > 0 for v in lens)
  results = json.loads((out / "results.json").read_text())
  assert results["photos"] == len(names)
  scores = results["scores"]
  assert set(scores) == set(names)
  assert all(np.isfinite(s["result"]["psnr"]) and np.isfinite(s["photo"]["psnr"])
             for s in scores.values())
  assert os.path.isfile(out / "mesh.ply") or "error" in json.loads(
      (out / "progress.json").read_text())["done"]["mesh"]


def _chromium():
  return shutil.which("chromium") or shutil.which("chromium-browser")


HARNESS = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="report.html" width="1200" height="900"></iframe>
<script>
const f = document.getElementById('f');
f.addEventListener('load', () => { setTimeout(() => {
  const d = f.contentDocument, r = {};
  const imgs = Array.from(d.images);
  r.images = imgs.length;
  r.broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const s = d.querySelector('input.slider');
  const over = d.getElementById(s.dataset.for).querySelector('img.over');
  r.clip_before = getComputedStyle(over).clipPath;
  s.value = 20; s.dispatchEvent(new Event('input'));
  r.clip_after = getComputedStyle(over).clipPath;
  r.sliders = d.querySelectorAll('input.slider').length;
  const v = d.getElementById('viewer');
  r.viewer_ready = v ? v.getAttribute('data-ready') : null;
  r.canvas = d.querySelectorAll('#viewer canvas').length;
  r.svg = d.querySelectorAll('svg.plot').length;
  document.getElementById('out').textContent = JSON.stringify(r);
}, 500); });
</script></body></html>"""


def open_in_chromium(report):
  """Loads report.html (from disk, no network) in headless Chromium beside a harness page that
  inspects it; returns (the harness's findings, the browser's console lines)."""
  folder = os.path.dirname(report)
  harness = os.path.join(folder, "harness.html")
  with open(harness, "w") as f:
    f.write(HARNESS)
  res = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-dev-shm-usage",
                        "--allow-file-access-from-files", "--enable-unsafe-swiftshader",
                        "--use-angle=swiftshader", "--enable-logging=stderr", "--v=0",
                        "--virtual-time-budget=8000", "--dump-dom", "file://" + harness],
                       capture_output=True, text=True, timeout=180, check=False)
  os.remove(harness)
  found = res.stdout.split('<pre id="out">', 1)[1].split("</pre>", 1)[0]
  console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
  return json.loads(found), console


@pytest.mark.skipif(_chromium() is None and not os.environ.get("CI"),
                    reason="needs Debian's chromium (.ci/run installs it)")
def test_report_renders_in_chromium(killed_and_resumed):
  photos, out, _, _ = killed_and_resumed
  r, console = open_in_chromium(str(out / "report.html"))
  assert not [c for c in console if "Uncaught" in c or "Error" in c], console
  n = len(os.listdir(photos))
  assert r["sliders"] == n
  # Every photo: the photo, its render and depth; four CoC maps; every image decodes.
  assert r["images"] >= 3 * n + 1 and r["broken"] == []
  assert r["clip_before"] != r["clip_after"]  # the slider moves the boundary
  assert r["svg"] >= 3  # focus, blur scale, training curves
  if os.path.isfile(out / "mesh.ply"):
    assert r["viewer_ready"] == "1" and r["canvas"] == 1


def test_layout_from_the_cameras():
  def look_at(c):
    fwd = -c / np.linalg.norm(c)  # towards the origin
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    return np.stack([right, up, -fwd, c], 1)  # OpenGL: the camera looks down -z

  forward = [look_at(np.array([x, y, 4.0])) for x in (-1, 0, 1) for y in (-0.5, 0.5)]
  ring = [look_at(4 * np.array([np.sin(a), 0.3, np.cos(a)])) for a in np.linspace(0, 6, 12)]
  assert reconstruct.choose_layout(np.stack(forward))[0] == "llff"
  assert reconstruct.choose_layout(np.stack(ring))[0] == "object"
  assert reconstruct.auto_factor(200, 150) == 1
  assert reconstruct.auto_factor(6000, 4000) == 6


def test_coc_radius_is_the_thin_lens_formula():
  depth = np.array([[0.5, 1.0], [2.0, 4.0]])
  r = photo_outputs.coc_radius(depth, 1.0, 3.0)
  np.testing.assert_allclose(r, 3.0 * np.abs(1 / depth - 1.0))


@pytest.mark.parametrize("case", ["missing", "broken_photo", "output_is_a_file", "bad_key",
                                  "bad_poses"])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, case):
  photos = tmp_path / "photos"
  out = tmp_path / "out"
  args = []
  if case != "missing":
    photos.mkdir()
    src = os.path.join(dev_scene(), "images")
    for n in sorted(os.listdir(src))[:4]:
      shutil.copy(os.path.join(src, n), photos / n)
  if case == "broken_photo":
    (photos / "003.png").write_bytes(b"not a png")
  if case == "output_is_a_file":
    out.write_text("x")
  if case == "bad_key":
    args = ["--config.train.max_stepz=3"]
  if case == "bad_poses":  # a scene folder: its poses are read before any work
    np.save(photos / "poses_bounds.npy", np.zeros((4, 12)))
  res = subprocess.run([sys.executable, "-m", "macro_nerf.reconstruct", str(photos),
                        f"--output={out}", *args], cwd=REPO, capture_output=True, text=True,
                       check=False)
  assert res.returncode == 1
  lines = res.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
  expect = {"missing": str(photos), "broken_photo": "003.png", "output_is_a_file": str(out),
            "bad_key": "max_stepz", "bad_poses": "poses_bounds.npy"}[case]
  assert expect in lines[0]
  if case != "output_is_a_file":
    assert not out.exists()
