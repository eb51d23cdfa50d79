"""A small synthetic defocus scene, rendered by our own thin-lens ray tracer.

The built-in demo needs data whose blur is real optics, independent of the learned blur model:
every blurred pixel here is an average of rays through a disk-shaped aperture, so a model that
fits it has learned the thin lens, not copied its own approximation. Pure numpy + Pillow.

Scene: textured spheres and boxes on an infinite textured ground plane (z = 0 is up), lit by
ambient light plus one directional light with hard (ray-traced) shadows, in linear light.
Optionally (scenes/variants.py) a far backdrop: the inside of a vertical cylinder around the
objects, which no photo has in focus. The output folder has the layout of the development scenes
(images/, images_sharp/, depth/, lens.json, poses_bounds.npy, transforms.json, optionally
object.ply); every `hold`-th view is a sharp held-out capture.

Internally cameras are OpenCV c2w (columns: right, down, forward, centre); files get the LLFF and
OpenGL conventions.
"""
import concurrent.futures
import contextlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from macro_nerf.scenes import surface

HFOV_DEG = 40.0
CHUNK_RAYS = 1 << 16  # rays traced at once: bounds memory to a few tens of MB
EPS = 1e-4

SUN_DIR = np.array([0.60, -0.35, 0.70]) / np.linalg.norm([0.60, -0.35, 0.70])
SUN_RGB = np.array([1.00, 0.93, 0.82])
AMBIENT_RGB = np.array([0.20, 0.23, 0.28])
SKY_RGB = np.array([0.45, 0.60, 0.85])


# --------------------------------------------------------------------------------------- scene

def default_scene():
  """Three spheres and two boxes around the origin, all resting on the ground (z = 0).

  Each shape has a texture kind and a palette of linear-light albedos, chosen to differ so that
  views and blur are easy to tell apart. Shape ids: 0 ground, 1..S spheres, S+1.. boxes, then the
  backdrop where the scene has one ("backdrop_radius": a vertical cylinder of that radius around
  "center", seen from inside; its texture and palette come last).
  """
  return {
      "sphere_center": np.array([[0.05, 0.10, 0.50], [-0.85, -0.35, 0.30], [0.75, -0.55, 0.22]]),
      "sphere_radius": np.array([0.50, 0.30, 0.22]),
      "box_lo": np.array([[0.55, 0.40, 0.0], [-0.95, 0.45, 0.0]]),
      "box_hi": np.array([[1.15, 1.00, 0.60], [-0.45, 0.95, 0.95]]),
      # texture per shape id: ground, spheres..., boxes...
      "texture": ["ground", "marble", "stripes", "checker3d", "checker3d", "stripes"],
      "palette": [
          np.array([[0.30, 0.22, 0.14], [0.55, 0.48, 0.32], [0.12, 0.20, 0.08]]),
          np.array([[0.70, 0.15, 0.10], [0.85, 0.70, 0.25], [0.10, 0.05, 0.30]]),
          np.array([[0.05, 0.25, 0.60], [0.80, 0.80, 0.75], [0.10, 0.45, 0.15]]),
          np.array([[0.80, 0.50, 0.05], [0.05, 0.05, 0.08], [0.60, 0.10, 0.40]]),
          np.array([[0.10, 0.50, 0.45], [0.75, 0.75, 0.70], [0.45, 0.05, 0.05]]),
          np.array([[0.55, 0.05, 0.35], [0.85, 0.80, 0.20], [0.05, 0.30, 0.55]]),
      ],
      "center": np.array([0.0, 0.1, 0.35]),  # where the cameras look
  }


# ------------------------------------------------------------------------------ intersections

def _intersect_spheres(o, d, centers, radii):
  """Nearest positive hit distance per ray and sphere, (N, S); inf where missed. d is unit."""
  oc = o[:, None, :] - centers[None]
  b = np.einsum("nsk,nk->ns", oc, d)
  c = np.einsum("nsk,nsk->ns", oc, oc) - radii[None] ** 2
  disc = b * b - c
  sq = np.sqrt(np.maximum(disc, 0.0))
  t0, t1 = -b - sq, -b + sq
  t = np.where(t0 > EPS, t0, np.where(t1 > EPS, t1, np.inf))
  return np.where(disc >= 0.0, t, np.inf)


def _intersect_boxes(o, d, lo, hi):
  """Nearest positive hit distance per ray and axis-aligned box (slab method), (N, B)."""
  with np.errstate(divide="ignore", invalid="ignore"):
    inv = 1.0 / np.where(d == 0.0, 1e-30, d)
  ta = (lo[None] - o[:, None]) * inv[:, None]
  tb = (hi[None] - o[:, None]) * inv[:, None]
  tnear = np.minimum(ta, tb).max(-1)
  tfar = np.maximum(ta, tb).min(-1)
  t = np.where(tnear > EPS, tnear, tfar)
  return np.where((tnear <= tfar) & (tfar > EPS), t, np.inf)


def _intersect_ground(o, d):
  """Hit distance to the plane z = 0 from above, (N,)."""
  with np.errstate(divide="ignore", invalid="ignore"):
    t = -o[:, 2] / d[:, 2]
  return np.where((d[:, 2] < 0.0) & (t > EPS), t, np.inf)


def _intersect_backdrop(o, d, center, radius):
  """Hit distance to the vertical cylinder |xy - center_xy| = radius from inside, (N,): every
  ray that is not vertical hits it, so depth stays finite however far the camera looks."""
  oc = o[:, :2] - center[:2]
  a = np.einsum("nk,nk->n", d[:, :2], d[:, :2])
  b = np.einsum("nk,nk->n", oc, d[:, :2])
  c = np.einsum("nk,nk->n", oc, oc) - radius ** 2
  with np.errstate(divide="ignore", invalid="ignore"):
    t = (-b + np.sqrt(np.maximum(b * b - a * c, 0.0))) / a
  return np.where((a > 0.0) & (c < 0.0) & (t > EPS), t, np.inf)


def intersect(scene, o, d, with_ground=True):
  """Nearest hit of unit-direction rays: (t, shape id); t = inf and id = -1 where rays escape.
  with_ground=False (shadow rays) leaves out the ground and the backdrop: only objects occlude."""
  cols = [_intersect_ground(o, d)[:, None] if with_ground else np.full((len(o), 1), np.inf),
          _intersect_spheres(o, d, scene["sphere_center"], scene["sphere_radius"]),
          _intersect_boxes(o, d, scene["box_lo"], scene["box_hi"])]
  if "backdrop_radius" in scene:
    cols.append(_intersect_backdrop(o, d, scene["center"], scene["backdrop_radius"])[:, None]
                if with_ground else np.full((len(o), 1), np.inf))
  ts = np.concatenate(cols, axis=1)
  ids = np.argmin(ts, axis=1)
  t = ts[np.arange(len(ts)), ids]
  return t, np.where(np.isfinite(t), ids, -1)


def _normals(scene, p, ids):
  """Outward unit normals at hit points p of shapes ids (ids >= 0)."""
  n = np.zeros_like(p)
  n[:, 2] = 1.0  # ground
  ns = len(scene["sphere_radius"])
  sph = (ids >= 1) & (ids <= ns)
  if sph.any():
    k = ids[sph] - 1
    n[sph] = (p[sph] - scene["sphere_center"][k]) / scene["sphere_radius"][k][:, None]
  nbox = len(scene["box_lo"])
  box = (ids > ns) & (ids <= ns + nbox)
  if box.any():
    k = ids[box] - 1 - ns
    lo, hi = scene["box_lo"][k], scene["box_hi"][k]
    q = (p[box] - 0.5 * (lo + hi)) / (0.5 * (hi - lo))
    axis = np.argmax(np.abs(q), axis=1)
    nb = np.zeros_like(q)
    nb[np.arange(len(q)), axis] = np.sign(q[np.arange(len(q)), axis])
    n[box] = nb
  back = ids > ns + nbox
  if back.any():
    n[back] = 0.0
    n[back, :2] = (scene["center"][:2] - p[back, :2]) / scene["backdrop_radius"]
  return n


# ----------------------------------------------------------------------------------- textures

def _hash3(ix, iy, iz, salt):
  """Integer lattice -> uniform [0, 1) (uint32 mixing; wraps on purpose)."""
  h = (ix.astype(np.int64).astype(np.uint32) * np.uint32(73856093)
       ^ iy.astype(np.int64).astype(np.uint32) * np.uint32(19349663)
       ^ iz.astype(np.int64).astype(np.uint32) * np.uint32(83492791)
       ^ np.uint32(salt * 2654435761 % 2**32))
  h ^= h >> np.uint32(15)
  h *= np.uint32(2246822519)
  h ^= h >> np.uint32(13)
  h *= np.uint32(3266489917)
  h ^= h >> np.uint32(16)
  return h.astype(np.float64) / 2.0**32


def value_noise(p, salt=0):
  """Smooth 3D value noise in [0, 1): trilinear over a hashed lattice with smoothstep weights."""
  f = np.floor(p)
  w = p - f
  w = w * w * (3.0 - 2.0 * w)
  i = f.astype(np.int64)
  out = 0.0
  for dx in (0, 1):
    wx = w[:, 0] if dx else 1.0 - w[:, 0]
    for dy in (0, 1):
      wy = w[:, 1] if dy else 1.0 - w[:, 1]
      for dz in (0, 1):
        wz = w[:, 2] if dz else 1.0 - w[:, 2]
        out = out + wx * wy * wz * _hash3(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, salt)
  return out


def fbm(p, base_freq, octaves=4, salt=0):
  """Fractal noise in [0, 1): several octaves, so that detail exists at every blur scale."""
  total, amp, norm = 0.0, 1.0, 0.0
  for o in range(octaves):
    total = total + amp * value_noise(p * base_freq * 2.0**o, salt + 17 * o)
    norm += amp
    amp *= 0.55
  return total / norm


def _mix3(palette, t):
  """Piecewise-linear palette lookup, t in [0, 1] -> (N, 3)."""
  t = np.clip(t, 0.0, 1.0)[:, None] * 2.0
  a = np.clip(t, 0.0, 1.0)
  b = np.clip(t - 1.0, 0.0, 1.0)
  return palette[0] * (1 - a) + palette[1] * (a - b) + palette[2] * b


def _checker(p, cell):
  return (np.floor(p / cell).astype(np.int64).sum(axis=1) & 1).astype(np.float64)


def albedo(scene, p, ids):
  """Linear-light albedo (N, 3) at hit points: high-frequency coloured procedural textures.

  A texture entry is a kind or (kind, scale): scale > 1 makes the pattern that many times finer.
  """
  out = np.zeros_like(p)
  for sid, (kind, pal) in enumerate(zip(scene["texture"], scene["palette"])):
    m = ids == sid
    if not m.any():
      continue
    q = p[m]
    if not isinstance(kind, str):
      kind, scale = kind
      q = q * scale
    if kind == "backdrop":
      col = _backdrop_albedo(q, pal, sid)
    elif kind == "ground":
      n = fbm(q, 3.0, 5, salt=sid)
      tile = _checker(q[:, :2] + 0.5 * (n[:, None] - 0.5), 0.25)
      col = _mix3(pal, 1.4 * n - 0.2)
      col = col * (0.55 + 0.45 * tile[:, None])
      col = col * (0.7 + 0.3 * value_noise(q * 25.0, sid + 99)[:, None])
    elif kind == "marble":
      n = fbm(q, 4.0, 4, salt=sid)
      col = _mix3(pal, 0.5 + 0.5 * np.sin(18.0 * (q[:, 0] + q[:, 2]) + 10.0 * n))
    elif kind == "stripes":
      n = fbm(q, 5.0, 3, salt=sid)
      s = np.sin(2 * np.pi * (q @ np.array([0.3, 0.5, 0.8])) / 0.09 + 3.0 * n)
      col = _mix3(pal, np.where(s > 0, 0.0, 1.0) * (0.5 + 0.5 * n))
    else:  # checker3d
      n = fbm(q, 6.0, 3, salt=sid)
      c = _checker(q + 1e-3, 0.1)
      col = _mix3(pal, 0.8 * c + 0.4 * n - 0.1)
    out[m] = col
  return out


def _backdrop_albedo(q, pal, sid):
  """Leafy blobs over vertical planks: structure at the scale of a few backdrop pixels to tens,
  so that its (never undone) blur is visible. q: (N, 3) points on the backdrop."""
  n = fbm(q, 0.8, 5, salt=sid)
  plank = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * (q[:, 0] + 0.7 * q[:, 1]) / 0.9))
  col = _mix3(pal, 1.6 * n - 0.3)
  return col * (0.6 + 0.25 * plank[:, None] + 0.15 * value_noise(q * 6.0, sid + 7)[:, None])


# ------------------------------------------------------------------------------------ shading

def shade(scene, o, d):
  """Linear radiance (N, 3) of unit-direction rays; also returns the hit distance t."""
  t, ids = intersect(scene, o, d)
  rgb = np.broadcast_to(SKY_RGB, o.shape).copy()
  hit = ids >= 0
  if hit.any():
    p = o[hit] + t[hit, None] * d[hit]
    n = _normals(scene, p, ids[hit])
    cos = n @ SUN_DIR
    lit = cos > 0.0
    if lit.any():
      # Shadow rays: only objects can occlude, the sun is above the ground.
      sp = p[lit] + 1e-3 * n[lit]
      ts, _ = intersect(scene, sp, np.broadcast_to(SUN_DIR, sp.shape), with_ground=False)
      lit[np.flatnonzero(lit)[np.isfinite(ts)]] = False
    light = AMBIENT_RGB + np.where(lit, cos, 0.0)[:, None] * SUN_RGB
    rgb[hit] = albedo(scene, p, ids[hit]) * light
  return rgb, t


def srgb_encode(linear):
  """sRGB OETF on linear radiance, clipped to [0, 1]."""
  x = np.clip(linear, 0.0, 1.0)
  return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def to_uint8(linear, noise_std=0.0, rng=None):
  """8-bit sRGB of linear radiance; noise_std > 0 adds Gaussian noise of that std in sRGB [0, 1]
  units before quantisation (sensor noise, drawn from rng), clipped to [0, 1]."""
  x = srgb_encode(linear)
  if noise_std > 0.0:
    x = np.clip(x + rng.normal(0.0, noise_std, x.shape), 0.0, 1.0)
  return np.round(x * 255.0).astype(np.uint8)


# ------------------------------------------------------------------------------------ cameras

def focal_from_width(width):
  """Pinhole focal length in pixels for a horizontal field of view of HFOV_DEG."""
  return width / (2.0 * math.tan(math.radians(HFOV_DEG) / 2.0))


def look_at(position, target):
  """OpenCV c2w (3, 4): columns right, down, forward, centre; world z is up."""
  fwd = target - position
  fwd = fwd / np.linalg.norm(fwd)
  right = np.cross(fwd, [0.0, 0.0, 1.0])
  right = right / np.linalg.norm(right)
  down = np.cross(fwd, right)
  return np.stack([right, down, fwd, position], axis=1)


def camera_positions(num_views, layout, target, distance=1.0, elevation_deg=None):
  """Camera centres: a small arc/grid in front ("forward") or a ring at 30 deg ("orbit"), at
  `distance` times the usual distance from the target (< 1: a close-up).

  The lowest elevation keeps the horizon out of the picture, so every pixel sees ground or an
  object and depth is finite everywhere. `elevation_deg` replaces the mean elevation (forward:
  38 deg, +-7 around it; orbit: 30 deg); lower ones need a backdrop to keep depth finite.
  """
  i = np.arange(num_views)
  frac = i / max(num_views - 1, 1)
  if layout == "forward":
    el0 = 38.0 if elevation_deg is None else elevation_deg
    az = np.radians(-90.0 + 22.0 * (2.0 * frac - 1.0))
    el = np.radians(el0 + 7.0 * np.sin(2 * np.pi * 2.5 * frac))
    dist = distance * (4.0 + 0.35 * np.cos(2 * np.pi * 1.5 * frac))
  elif layout == "orbit":
    az = 2 * np.pi * i / num_views
    el = np.full(num_views, np.radians(30.0 if elevation_deg is None else elevation_deg))
    dist = np.full(num_views, 4.5 * distance)
  else:
    raise ValueError(f"layout must be 'forward' or 'orbit', got {layout!r}")
  return target + np.stack([dist * np.cos(el) * np.cos(az), dist * np.cos(el) * np.sin(az),
                            dist * np.sin(el)], axis=1)


def cv_to_llff(c2w):
  """OpenCV [right, down, forward] -> LLFF [down, right, back]."""
  return np.stack([c2w[:, 1], c2w[:, 0], -c2w[:, 2], c2w[:, 3]], axis=1)


def cv_to_opengl(c2w):
  """OpenCV [right, down, forward] -> OpenGL [right, up, back]."""
  return np.stack([c2w[:, 0], -c2w[:, 1], -c2w[:, 2], c2w[:, 3]], axis=1)


def opengl_to_cv(c2w):
  c2w = np.asarray(c2w, dtype=np.float64)[:3]
  return np.stack([c2w[:, 0], -c2w[:, 1], -c2w[:, 2], c2w[:, 3]], axis=1)


# ------------------------------------------------------------------------------ ray tracing

def concentric_disk(u1, u2):
  """Shirley-Chiu map of the unit square onto the unit disk: keeps strata compact."""
  a, b = 2.0 * u1 - 1.0, 2.0 * u2 - 1.0
  first = np.abs(a) > np.abs(b)
  with np.errstate(divide="ignore", invalid="ignore"):
    r = np.where(first, a, b)
    phi = np.where(first, (np.pi / 4) * (b / a), np.pi / 2 - (np.pi / 4) * (a / b))
  phi = np.where((a == 0) & (b == 0), 0.0, phi)
  return r * np.cos(phi), r * np.sin(phi)


def _strata(k):
  """Grid (nx, ny) with nx * ny = k and nx as close to sqrt(k) as possible."""
  nx = max(d for d in range(1, int(math.isqrt(k)) + 1) if k % d == 0)
  return nx, k // nx


def _stratified(rng, n, k):
  """(n, k, 2) stratified samples in the unit square, strata shuffled independently per row."""
  nx, ny = _strata(k)
  gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
  cells = np.stack([gx.ravel(), gy.ravel()], axis=-1).astype(np.float64)  # (k, 2)
  perm = np.argsort(rng.random((n, k)), axis=1)
  return (cells[perm] + rng.random((n, k, 2))) / np.array([nx, ny])


def depth_map(scene, c2w, focal, width, height):
  """z-depth (H, W) of the pinhole ray through each pixel centre; inf where a ray escapes."""
  return depth_and_ids(scene, c2w, focal, width, height)[0]


def depth_and_ids(scene, c2w, focal, width, height):
  """z-depth (H, W) and shape id (H, W) (-1: escaped) of the pinhole ray through each pixel."""
  v, u = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
  dcam = np.stack([(u - width / 2) / focal, (v - height / 2) / focal, np.ones_like(u)], -1)
  dcam = dcam.reshape(-1, 3)
  norm = np.linalg.norm(dcam, axis=1)
  d = (dcam / norm[:, None]) @ c2w[:, :3].T
  o = np.broadcast_to(c2w[:, 3], d.shape)
  t, ids = intersect(scene, o, d)
  # t along the unit ray / |dcam| = z-depth
  return (t / norm).reshape(height, width), ids.reshape(height, width)


def render_view(scene, c2w, focal, width, height, *, focus, aperture, samples, seed):
  """Thin-lens image (H, W, 3) in linear radiance, averaged over `samples` rays per pixel.

  Each ray leaves a stratified point of the lens disk (radius `aperture`, camera x/y plane) and
  passes through the point at z-depth `focus` on the pinhole ray of a jittered pixel position.
  The random numbers do not depend on the lens, so aperture = 0 gives exactly the pinhole
  (antialiased) image with the same jitters, and blurred minus sharp is pure defocus.
  """
  rng = np.random.default_rng(seed)
  npix = width * height
  v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64),
                     indexing="ij")
  u, v = u.ravel(), v.ravel()
  out = np.empty((npix, 3))
  step = max(1, CHUNK_RAYS // samples)
  for s in range(0, npix, step):
    e = min(npix, s + step)
    n = e - s
    jit = _stratified(rng, n, samples)
    lens = _stratified(rng, n, samples)
    lx, ly = concentric_disk(lens[..., 0], lens[..., 1])
    pu = u[s:e, None] + jit[..., 0]
    pv = v[s:e, None] + jit[..., 1]
    # Point in focus, camera frame: pinhole ray scaled to z = focus.
    fx = (pu - width / 2) / focal * focus
    fy = (pv - height / 2) / focal * focus
    ox, oy = aperture * lx, aperture * ly
    dcam = np.stack([fx - ox, fy - oy, np.full_like(fx, focus)], -1).reshape(-1, 3)
    dcam /= np.linalg.norm(dcam, axis=1, keepdims=True)
    ocam = np.stack([ox, oy, np.zeros_like(ox)], -1).reshape(-1, 3)
    d = dcam @ c2w[:, :3].T
    o = ocam @ c2w[:, :3].T + c2w[:, 3]
    rgb, _ = shade(scene, o, d)
    out[s:e] = rgb.reshape(n, samples, 3).mean(axis=1)
  return out.reshape(height, width, 3)


# --------------------------------------------------------------------------------- the scene

def draw_lens(rng, depth, focal, width, blur_px=None, focus_pct=None, fixed_aperture=False,
              focus_depth=None):
  """Per-view focus distance and aperture radius (world units), drawn from the depth map.

  Focus lies between the 20th and 80th depth percentile, or at percentile `focus_pct` (a focus
  bracket), of `focus_depth` (the depths focus may land on, e.g. the objects only; None: all of
  `depth`). The aperture makes the blur radius kappa * |1/z - 1/s| reach a value drawn from
  `blur_px` (lo, hi) pixels at the depth extreme farthest from focus (None: 2-5 px at 80 px
  width, scaled with width). With `fixed_aperture` the drawn value is the radius across the whole
  depth range (the nearest point when focused on the farthest), so the aperture does not depend
  on where the photo is focused, as in a macro focus bracket shot at one f-number.
  """
  z = depth[np.isfinite(depth)]
  zf = z if focus_depth is None else focus_depth
  if focus_pct is None:
    s = rng.uniform(np.percentile(zf, 20), np.percentile(zf, 80))
  else:
    s = float(np.percentile(zf, focus_pct))
  lo, hi = (2.0 * width / 80.0, 5.0 * width / 80.0) if blur_px is None else blur_px
  r = rng.uniform(lo, hi)
  if fixed_aperture:
    kappa = r / (1 / z.min() - 1 / z.max())
  else:
    kappa = r / max(abs(1 / z.min() - 1 / s), abs(1 / z.max() - 1 / s))
  return float(s), float(kappa / focal)


def bracket_percentiles(num_views, lo, hi):
  """Focus percentiles of a focus bracket, spread over [lo, hi] in a scrambled order (golden-ratio
  sequence), so that neighbouring viewpoints focus at different depths."""
  frac = (np.arange(num_views) * 0.6180339887498949) % 1.0
  return lo + (hi - lo) * frac


def _progress(it, enabled, total):
  return tqdm(it, total=total, desc="synthetic scene", unit="view", disable=not enabled)


def _write_png(path, linear, noise_std=0.0, rng=None):
  Image.fromarray(to_uint8(linear, noise_std, rng)).save(path)


def _write_files(tmp, poses_cv, focal, width, height, lens_views, hold, noise_std=0.0):
  """poses_bounds.npy (LLFF), transforms.json (nerfstudio) and lens.json (with "noise_std" where
  the photos carry noise)."""
  hwf = np.array([height, width, focal], dtype=np.float64)[:, None]
  rows = []
  for c2w, lv in zip(poses_cv, lens_views):
    m = np.concatenate([cv_to_llff(c2w), hwf], axis=1)
    rows.append(np.concatenate([m.ravel(), [lv["near"], lv["far"]]]))
  np.save(tmp / "poses_bounds.npy", np.array(rows, dtype=np.float64))
  frames = []
  for c2w, lv in zip(poses_cv, lens_views):
    mat = np.concatenate([cv_to_opengl(c2w), [[0.0, 0.0, 0.0, 1.0]]], axis=0)
    frames.append({"file_path": f"images/{lv['file']}", "transform_matrix": mat.tolist()})
  transforms = {"camera_angle_x": 2.0 * math.atan(width / (2.0 * focal)),
                "fl_x": focal, "fl_y": focal, "cx": width / 2.0, "cy": height / 2.0,
                "w": width, "h": height, "frames": frames}
  (tmp / "transforms.json").write_text(json.dumps(transforms, indent=1))
  lens = {"hold": hold, "focal_px": focal}
  if noise_std > 0.0:
    lens["noise_std"] = noise_std
  lens["views"] = lens_views
  (tmp / "lens.json").write_text(json.dumps(lens, indent=1))


def _render_pair(args):
  """(sharp, blurred or None) linear images of one view."""
  scene, c2w, focal, width, height, lv, samples, seed, i = args
  kw = dict(focus=lv["focus_distance"], samples=samples, seed=(seed, i))
  sharp = render_view(scene, c2w, focal, width, height, aperture=0.0, **kw)
  if lv["held_out_sharp"]:
    return sharp, None
  return sharp, render_view(scene, c2w, focal, width, height, aperture=lv["aperture_radius"], **kw)


def _focus_depths(scene, depth, ids):
  """Depths a photo may focus on: all (None), or with a backdrop the objects' pixels (the ground
  too where a view sees almost no object), so the far background is never in focus."""
  if "backdrop_radius" not in scene:
    return None
  objects = (ids >= 1) & (ids <= len(scene["sphere_radius"]) + len(scene["box_lo"]))
  if objects.mean() < 0.01:
    objects = ids == 0
  return depth[objects]


def _view_lenses(scene, poses, focal, width, height, hold, rng, lens_kw, pcts):
  """Depth maps and lens.json entries of every view, drawn in view order (one rng stream)."""
  depths, lens_views = [], []
  for i, c2w in enumerate(poses):
    depth, ids = depth_and_ids(scene, c2w, focal, width, height)
    pct = None if pcts is None else pcts[i]
    focus, aperture = draw_lens(rng, depth, focal, width, focus_pct=pct,
                                focus_depth=_focus_depths(scene, depth, ids), **lens_kw)
    z = depth[np.isfinite(depth)]
    depths.append(depth)
    lens_views.append({"file": f"{i:03d}.png", "held_out_sharp": bool(i % hold == 0),
                       "focus_distance": focus, "aperture_radius": aperture,
                       "coc_scale_px": focal * aperture,
                       "near": float(0.9 * z.min()), "far": float(1.1 * z.max())})
  return depths, lens_views


@contextlib.contextmanager
def _mapper(workers):
  """map over views, in this thread or in a pool of threads (numpy releases the GIL in its
  array operations, so views render in parallel)."""
  if workers <= 1:
    yield map
    return
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    yield pool.map


def _noise_rng(seed, i):
  """Per-view noise stream, apart from the lens and jitter stream (seed, i) of render_view."""
  return np.random.default_rng((seed, i, 1))


def _render_views(tmp, jobs, depths, workers, progress, noise_std, seed):
  """Render every view into tmp: images/ (photos, noisy where noise_std > 0), images_sharp/
  (noise-free references) and depth/ (float32 z-depth, (H, W))."""
  with _mapper(workers) as pmap:
    for i, (sharp, blurred) in enumerate(_progress(pmap(_render_pair, jobs), progress,
                                                   len(jobs))):
      name = f"{i:03d}.png"
      _write_png(tmp / "images_sharp" / name, sharp)
      if blurred is None and noise_std <= 0.0:
        shutil.copyfile(tmp / "images_sharp" / name, tmp / "images" / name)
      else:
        photo = sharp if blurred is None else blurred
        _write_png(tmp / "images" / name, photo, noise_std, _noise_rng(seed, i))
      np.save(tmp / "depth" / f"{i:03d}.npy", depths[i].astype(np.float32))


def _move_into_place(tmp, out_dir):
  if out_dir.exists():
    old = out_dir.parent / f".{out_dir.name}.old{os.getpid()}"
    os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old)
  else:
    os.replace(tmp, out_dir)


def render_scene(out_dir, *, num_views=17, width=80, height=60, hold=8, lens_samples=48, seed=0,
                 layout="forward", progress=True, overwrite=False, blur_px=None,
                 focus_bracket=None, fixed_aperture=False, camera_distance=1.0,
                 workers=1, scene=None, elevation_deg=None, noise_std=0.0,
                 object_mesh=False) -> dict:
  """Render the synthetic scene into `out_dir` (same format as the development scenes).

  The lens of each view comes from draw_lens: `blur_px` (lo, hi) is the range of each view's
  largest blur radius in pixels (None: 2-5 px at 80 px width, scaled); `focus_bracket` (lo, hi)
  depth percentiles focuses the views across that range like a macro focus bracket (None: each
  between the 20th and 80th percentile at random); with `fixed_aperture` blur_px spans each
  view's whole depth range, so the aperture does not depend on the focus (see draw_lens);
  `camera_distance` < 1 brings the cameras closer (a close-up, as in macro photography).
  `workers` > 1 renders views in that many threads (the same images).
  `scene` replaces default_scene() (scenes/variants.py); with a backdrop, focus percentiles are
  over the objects' pixels only. `elevation_deg`: see camera_positions. `noise_std` > 0 adds
  Gaussian noise of that std (8-bit sRGB in [0, 1] units, seeded by seed and view) to every
  photo in images/, held-out sharp captures included; images_sharp/ stays noise-free.
  `object_mesh` writes object.ply, the objects' surface without ground and backdrop.

  Views with index % hold == 0 are held out: their images/ file is the sharp capture. The folder
  is written beside out_dir and renamed into place at the end, so a failure leaves nothing
  half-written. An existing non-empty out_dir is an error unless overwrite=True.
  Returns a summary dict (paths, focal_px, held-out views, ...).
  """
  out_dir = Path(out_dir)
  if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
    raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True)")
  scene = default_scene() if scene is None else scene
  focal = focal_from_width(width)
  poses = [look_at(p, scene["center"]) for p in camera_positions(
      num_views, layout, scene["center"], camera_distance, elevation_deg)]
  rng = np.random.default_rng(seed)
  pcts = None if focus_bracket is None else bracket_percentiles(num_views, *focus_bracket)
  lens_kw = dict(blur_px=blur_px, fixed_aperture=fixed_aperture)
  depths, lens_views = _view_lenses(scene, poses, focal, width, height, hold, rng, lens_kw, pcts)

  out_dir.parent.mkdir(parents=True, exist_ok=True)
  tmp = out_dir.parent / f".{out_dir.name}.tmp{os.getpid()}"
  if tmp.exists():
    shutil.rmtree(tmp)
  try:
    for sub in ("images", "images_sharp", "depth"):
      (tmp / sub).mkdir(parents=True)
    jobs = [(scene, poses[i], focal, width, height, lens_views[i], lens_samples, seed, i)
            for i in range(num_views)]
    _render_views(tmp, jobs, depths, workers, progress, noise_std, seed)
    _write_files(tmp, poses, focal, width, height, lens_views, hold, noise_std)
    if object_mesh:
      surface.write_ply(tmp / "object.ply", *surface.object_mesh(scene))
    _move_into_place(tmp, out_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return {"path": str(out_dir), "images": str(out_dir / "images"),
          "images_sharp": str(out_dir / "images_sharp"), "depth": str(out_dir / "depth"),
          "lens": str(out_dir / "lens.json"), "poses_bounds": str(out_dir / "poses_bounds.npy"),
          "transforms": str(out_dir / "transforms.json"), "num_views": num_views,
          "width": width, "height": height, "focal_px": focal, "hold": hold,
          "held_out": [i for i in range(num_views) if i % hold == 0], "layout": layout,
          "seed": seed, "blur_px": blur_px, "focus_bracket": focus_bracket,
          "fixed_aperture": fixed_aperture, "camera_distance": camera_distance,
          "elevation_deg": elevation_deg, "noise_std": noise_std,
          "object_mesh": str(out_dir / "object.ply") if object_mesh else None}
