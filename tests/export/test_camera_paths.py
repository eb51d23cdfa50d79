"""Camera paths for new views (orbit, spiral) and the depth colour map."""
import numpy as np

from macro_nerf import image_utils
from macro_nerf.export import camera_paths


def test_camera_paths_look_at_the_target():
  rng = np.random.default_rng(0)
  target = np.array([0.1, 0.2, -0.3])
  cams = []
  for az in np.linspace(0, 2 * np.pi, 8, endpoint=False):
    pos = target + 1.5 * np.array([np.cos(az), np.sin(az), 0.5 + 0.1 * rng.standard_normal()])
    cams.append(camera_paths.look_at(pos, target, [0, 0, 1]))
  c2w = np.stack(cams)
  near, far = np.full(8, 0.5), np.full(8, 3.0)
  np.testing.assert_allclose(camera_paths.look_at_point(c2w, near, far), target, atol=1e-6)
  orbit = camera_paths.orbit_path(c2w, near, far, 12)
  dist = np.linalg.norm(orbit[:, :, 3] - target, axis=1)
  np.testing.assert_allclose(dist, np.linalg.norm(c2w[:, :, 3] - target, axis=1).mean())
  to_target = (target - orbit[:, :, 3]) / dist[:, None]
  np.testing.assert_allclose(np.einsum("ni,ni->n", -orbit[:, :, 2], to_target), 1.0, atol=1e-9)
  for m in orbit:  # rotations
    np.testing.assert_allclose(m[:, :3].T @ m[:, :3], np.eye(3), atol=1e-9)
  # Forward-facing: near-parallel axes fall back to a point on the mean axis; the spiral turns
  # around the mean position within the cameras' spread.
  ff = np.stack([camera_paths.look_at([x, y, 2.0], [x, y, 0.0], [0, 1, 0])
                 for x, y in rng.uniform(-0.2, 0.2, (10, 2))])
  t = camera_paths.look_at_point(ff, np.full(10, 1.0), np.full(10, 4.0))
  np.testing.assert_allclose(t[2], 2.0 - 1.6, atol=0.05)
  spiral = camera_paths.spiral_path(ff, np.full(10, 1.0), np.full(10, 4.0), 20)
  assert spiral.shape == (20, 3, 4)
  off = spiral[:, :2, 3] - ff[:, :2, 3].mean(0)
  assert np.abs(off).max() <= 0.2 + 1e-9 and np.abs(off).max() > 0.05
  assert np.all(spiral[:, 2, 2] > 0.9)  # still looking down
  # Turbo: dark blue, through green, to dark red.
  rgb = image_utils.turbo([0.0, 0.15, 0.5, 0.9, 1.0])
  assert np.all(rgb[0] < 0.25) and list(np.argmax(rgb[1:], 1)) == [2, 1, 0, 0]
