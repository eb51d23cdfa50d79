"""Camera paths for new views: an orbit around the look-at point, LLFF's spiral, or the captured
views. All in the scene's normalised coordinates, OpenGL c2w (columns right, up, back, centre)."""
import numpy as np

from macro_nerf.nerf import camera

PATHS = ("orbit", "spiral", "views")


def _unit(v):
  v = np.asarray(v, np.float64)
  return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def look_at(centre, target, up):
  """The c2w (3, 4) of a camera at `centre` looking at `target`, its up as close to `up` as can be."""
  back = _unit(np.asarray(centre, np.float64) - target)
  right = np.cross(up, back)
  if np.linalg.norm(right) < 1e-6:  # looking along `up`: any right will do
    right = np.cross([1.0, 0.0, 0.0] if abs(back[0]) < 0.9 else [0.0, 1.0, 0.0], back)
  right = _unit(right)
  return np.stack([right, np.cross(back, right), back, np.asarray(centre, np.float64)], 1)


def mean_up(c2w):
  return _unit(np.asarray(c2w, np.float64)[:, :, 1].sum(0))


def look_at_point(c2w, near, far):
  """The point the cameras look at: closest (least squares) to every optical axis, as in
  camera.bounds_from_cameras. When the axes are close to parallel (forward-facing captures) or that
  point is not in front of the cameras within their bounds, the point on the mean axis at the
  harmonic mean of the median near and far bounds (the middle in disparity) instead."""
  c2w = np.asarray(c2w, np.float64)
  centres, axes = c2w[:, :, 3], -c2w[:, :, 2]
  axes = _unit(axes)
  m = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]
  msum = m.sum(0)
  mean_c, mean_axis = centres.mean(0), _unit(axes.sum(0))
  ok = np.linalg.eigvalsh(msum / len(c2w))[0] > 1e-3  # axes spread by more than ~2 degrees
  if ok:
    target = np.linalg.solve(msum, (m @ centres[:, :, None]).sum(0))[:, 0]
    depth = np.einsum("ni,ni->n", target - centres, axes)
    ok = np.all(depth > 0) and np.median(depth) <= np.max(far)
  if not ok:
    d = 2.0 / (1.0 / np.median(near) + 1.0 / np.median(far))
    target = mean_c + mean_axis * d
  return target


def orbit_path(c2w, near, far, frames):
  """A full circle around the look-at point, about the cameras' mean up vector, at the cameras'
  mean distance and mean elevation; it starts at the first camera's azimuth."""
  c2w = np.asarray(c2w, np.float64)
  target, up = look_at_point(c2w, near, far), mean_up(c2w)
  off = c2w[:, :, 3] - target
  dist = np.linalg.norm(off, axis=1)
  elev = np.mean(np.arcsin(np.clip(off @ up / np.maximum(dist, 1e-12), -1, 1)))
  a = off[0] - (off[0] @ up) * up
  if np.linalg.norm(a) < 1e-6 * dist[0]:  # the first camera sits on the axis
    a = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
  a = _unit(a)
  b = np.cross(up, a)
  phi = 2 * np.pi * np.arange(frames) / frames
  dirs = np.cos(elev) * (np.cos(phi)[:, None] * a + np.sin(phi)[:, None] * b) + np.sin(elev) * up
  return np.stack([look_at(target + dist.mean() * d, target, up) for d in dirs])


def spiral_path(c2w, near, far, frames, rots=2, zrate=0.5, percentile=90):
  """LLFF's spiral: around the mean pose, with radii the `percentile` of the cameras' offsets
  from it along its right, up and back axes, every frame looking at the point at the look-at
  point's depth on the mean axis."""
  c2w = np.asarray(c2w, np.float64)
  avg = camera.mean_camera(c2w)  # looks along the mean axis
  centre, up = avg[:, 3], mean_up(c2w)
  rads = np.percentile(np.abs((c2w[:, :, 3] - centre) @ avg[:, :3]), percentile, axis=0)
  focal = max(float((look_at_point(c2w, near, far) - centre) @ -avg[:, 2]), 1e-6)
  focus_point = centre - avg[:, 2] * focal
  out = []
  for theta in np.linspace(0.0, 2 * np.pi * rots, frames, endpoint=False):
    local = np.array([np.cos(theta), -np.sin(theta), -np.sin(theta * zrate)]) * rads
    out.append(look_at(centre + avg[:, :3] @ local, focus_point, up))
  return np.stack(out)


def path_cameras(scene, path, frames):
  """c2w (F, 3, 4), intrinsics (F, 4), near, far (F,) of a named path (normalised units).
  New views take the first training view's intrinsics and the widest bounds of the capture."""
  if path == "views":
    idx = np.arange(len(scene.names))
    if 0 < frames < len(idx):
      idx = idx[np.round(np.linspace(0, len(idx) - 1, frames)).astype(int)]
    return scene.c2w[idx], scene.intrinsics[idx], scene.near[idx], scene.far[idx]
  if path not in PATHS:
    raise ValueError(f"--path={path}: unknown path (use {', '.join(PATHS)})")
  frames = frames if frames > 0 else 60
  make = orbit_path if path == "orbit" else spiral_path
  c2w = make(scene.c2w, scene.near, scene.far, frames)
  n = len(c2w)
  intr = np.repeat(scene.intrinsics[scene.train_idx[:1]], n, 0)
  return (c2w, intr, np.full(n, scene.near.min()), np.full(n, scene.far.max()))
