"""Camera conventions checked against a generated scene (poses, depth maps)."""
import json
import os

import numpy as np

from macro_nerf.nerf import camera

from helpers import dev_scene



def _llff():
  pb = np.load(os.path.join(dev_scene(), "poses_bounds.npy"))
  poses = pb[:, :15].reshape(-1, 3, 5)
  h, w, f = poses[0, :, 4]
  c2w = camera.llff_to_opengl(poses[:, :, :4])
  return c2w, (f, f, w / 2, h / 2), int(h), int(w)


def _bilinear(img, x, y):
  """img sampled at array coordinates (x=col, y=row)."""
  x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
  fx, fy = x - x0, y - y0
  x0 = np.clip(x0, 0, img.shape[1] - 2)
  y0 = np.clip(y0, 0, img.shape[0] - 2)
  return ((1 - fx) * (1 - fy) * img[y0, x0] + fx * (1 - fy) * img[y0, x0 + 1]
          + (1 - fx) * fy * img[y0 + 1, x0] + fx * fy * img[y0 + 1, x0 + 1])


def test_depth_reprojection_between_views():
  c2w, intr, h, w = _llff()
  d1 = np.load(os.path.join(dev_scene(), "depth", "001.npy")).astype(np.float64)
  d2 = np.load(os.path.join(dev_scene(), "depth", "002.npy")).astype(np.float64)
  assert d1.shape == (h, w)
  py, px = np.meshgrid(np.arange(h // 2 - 20, h // 2 + 20, 4), np.arange(w // 2 - 25, w // 2 + 25, 5),
                       indexing="ij")
  px, py = px.ravel().astype(np.float64), py.ravel().astype(np.float64)
  dirs = camera.pixel_directions(px + 0.5, py + 0.5, c2w[1], intr)
  # The direction has unit component along the viewing axis, so t is the z-depth.
  view_axis = -c2w[1][:3, 2]
  np.testing.assert_allclose(dirs @ view_axis, 1.0, atol=1e-9)
  pts = c2w[1][:3, 3] + dirs * d1[py.astype(int), px.astype(int)][:, None]
  # Projecting back into view 1 recovers the pixel and the depth.
  uv1, z1 = camera.project(pts, c2w[1], intr)
  np.testing.assert_allclose(uv1, np.stack([px + 0.5, py + 0.5], -1), atol=1e-6)
  np.testing.assert_allclose(z1, d1[py.astype(int), px.astype(int)], rtol=1e-9)
  uv2, z2 = camera.project(pts, c2w[2], intr)
  ok = (uv2[:, 0] > 1) & (uv2[:, 0] < w - 1) & (uv2[:, 1] > 1) & (uv2[:, 1] < h - 1) & (z2 > 0)
  assert ok.mean() > 0.9
  sampled = _bilinear(d2, uv2[ok, 0] - 0.5, uv2[ok, 1] - 0.5)
  rel = np.abs(sampled - z2[ok]) / z2[ok]
  assert np.median(rel) < 0.005, np.median(rel)
  assert np.percentile(rel, 90) < 0.03, np.percentile(rel, 90)


def test_transforms_json_agrees_with_poses_bounds():
  c2w, intr, h, w = _llff()
  with open(os.path.join(dev_scene(), "transforms.json")) as f:
    meta = json.load(f)
  tf = np.stack([np.asarray(fr["transform_matrix"], np.float64)[:3, :4] for fr in meta["frames"]])
  assert tf.shape == c2w.shape
  np.testing.assert_allclose(tf, c2w, atol=1e-5)
  np.testing.assert_allclose(meta["fl_x"], intr[0], rtol=1e-6)
  assert (meta["w"], meta["h"]) == (w, h)


def test_opengl_llff_roundtrip():
  pb = np.load(os.path.join(dev_scene(), "poses_bounds.npy"))
  llff = pb[:, :15].reshape(-1, 3, 5)[:, :, :4]
  gl = camera.llff_to_opengl(llff)
  np.testing.assert_allclose(camera.opengl_to_llff(gl), llff, atol=1e-12)
  np.testing.assert_allclose(camera.llff_to_opengl(camera.opengl_to_llff(gl)), gl, atol=1e-12)
  # Rotations stay proper (det +1) after the column permutation.
  np.testing.assert_allclose(np.linalg.det(gl[:, :, :3]), 1.0, atol=1e-5)


def test_image_rays_centre_pixel_along_view_axis():
  c2w, intr, h, w = _llff()
  o, d = camera.image_rays(c2w[0], intr, h, w)
  assert o.shape == d.shape == (h, w, 3)
  c = camera.pixel_directions(np.float64(w / 2), np.float64(h / 2), c2w[0], intr)
  np.testing.assert_allclose(c, -c2w[0][:3, 2], atol=1e-9)
