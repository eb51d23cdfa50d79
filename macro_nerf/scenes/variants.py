"""Variants of the synthetic scene, and the named development scenes built from them.

The two shared development scenes have noisy photos (about 0.015 per pixel) and 33 views; a
method tuned on them alone may lean on things those two happen to have. The scenes here vary one
thing at a time: layout (forward / orbit), view count (30 / 9), a far backdrop no photo has in
focus, finer texture on the objects, the largest blur radius (9-12 px, in pixels of the
rendered width) and per-pixel noise (0.003, as a real camera at base ISO, and 0.015).
experiments/make_scenes.py renders them (synthetic.render_scene with the entry's arguments).

A scene spec is a small JSON-able dict (objects, backdrop_radius, texture_scale); build_scene
turns it into the dict synthetic.py renders. Shape ids follow synthetic.default_scene: 0 ground,
spheres, boxes, then the backdrop.
"""
import copy

import numpy as np

from macro_nerf.scenes import synthetic

# Backdrop: a cylinder of this radius around the objects (world units; the forward cameras are
# ~4 from the centre, so the wall behind the objects is 3-4x farther than they are).
BACKDROP_RADIUS = 12.0
BACKDROP_PALETTE = np.array([[0.10, 0.22, 0.08], [0.45, 0.55, 0.25], [0.30, 0.18, 0.35]])
# Per texture kind, the factor that brings its finest regular pattern to ~3-4 px per period at
# 200 px width and the orbit distance (~60 px per world unit); texture_scale multiplies it.
FINE = {"marble": 3.0, "stripes": 1.5, "checker3d": 2.0}


def cluster_scene():
  """A second arrangement: four spheres and two boxes, more crowded, with other palettes, so
  that development does not see only default_scene's objects. Same dict layout."""
  pal = synthetic.default_scene()["palette"]
  return {
      "sphere_center": np.array([[-0.55, 0.50, 0.35], [0.40, -0.45, 0.28], [0.85, 0.55, 0.40],
                                 [-0.25, -0.85, 0.18]]),
      "sphere_radius": np.array([0.35, 0.28, 0.40, 0.18]),
      "box_lo": np.array([[-1.15, -0.45, 0.0], [-0.05, 0.15, 0.0]]),
      "box_hi": np.array([[-0.60, 0.05, 0.70], [0.30, 0.70, 0.45]]),
      "texture": ["ground", "stripes", "marble", "checker3d", "marble", "stripes", "checker3d"],
      "palette": [pal[0], pal[2], pal[3], pal[1], pal[4], pal[1][::-1], pal[5]],
      "center": np.array([0.0, 0.0, 0.35]),
  }


OBJECTS = {"default": synthetic.default_scene, "cluster": cluster_scene}


def with_backdrop(scene, radius=BACKDROP_RADIUS):
  """scene (not modified) plus a far backdrop: a textured vertical cylinder of `radius` around
  scene["center"], seen from inside, so every ray that misses the ground ends on it (finite
  depth). render_scene then focuses every photo on the objects only."""
  out = copy.deepcopy(scene)
  out["backdrop_radius"] = float(radius)
  out["texture"] = out["texture"] + ["backdrop"]
  out["palette"] = out["palette"] + [BACKDROP_PALETTE]
  return out


def with_fine_texture(scene, scale=1.0):
  """scene (not modified) with every object's texture made finer (FINE[kind] * scale); the
  ground keeps its own."""
  out = copy.deepcopy(scene)
  out["texture"] = [k if k in ("ground", "backdrop") else (k, FINE.get(k, 2.0) * scale)
                    for k in out["texture"]]
  return out


def build_scene(spec):
  """Scene dict of a spec {"objects": "default"|"cluster", "backdrop_radius": float or None,
  "texture_scale": float or None (None: the usual textures)}."""
  scene = OBJECTS[spec.get("objects", "default")]()
  if spec.get("texture_scale"):
    scene = with_fine_texture(scene, spec["texture_scale"])
  if spec.get("backdrop_radius"):
    scene = with_backdrop(scene, spec["backdrop_radius"])
  return scene


# Named development scenes: what each covers, its scene spec and render_scene's arguments
# (besides out_dir, width, height, lens_samples, workers). Few-view scenes keep hold=8: views 0
# and 8 are held out, 7 train.
_FAR = {"objects": "default", "backdrop_radius": BACKDROP_RADIUS}
_FAR_RENDER = {"layout": "forward", "num_views": 30, "elevation_deg": 12.0, "blur_px": [8.0, 10.0],
               "focus_bracket": [5.0, 95.0], "seed": 11}
DEV_SCENES = {
    "fwd_far_lo": {
        "about": "forward, 30 views, far backdrop (3-4x the object distance, never in focus: "
                 "focus bracket over the objects only), blur up to 10 px, noise 0.003",
        "covers": ["forward", "30 views", "far background", "blur 8-10 px", "noise 0.003"],
        "scene": _FAR, "render": {**_FAR_RENDER, "noise_std": 0.003}},
    "fwd_far_hi": {
        "about": "fwd_far_lo with noise 0.015 (as the shared development scenes); same lenses "
                 "and noise-free images, so the two differ only by noise",
        "covers": ["forward", "30 views", "far background", "blur 8-10 px", "noise 0.015"],
        "scene": _FAR, "render": {**_FAR_RENDER, "noise_std": 0.015}},
    "fwd_few_lo": {
        "about": "forward, 9 views (7 train), second object arrangement, random focus between "
                 "the 20th and 80th depth percentile, blur up to 9 px, noise 0.003",
        "covers": ["forward", "9 views", "blur 6-9 px", "noise 0.003"],
        "scene": {"objects": "cluster"},
        "render": {"layout": "forward", "num_views": 9, "blur_px": [6.0, 9.0], "seed": 12,
                   "noise_std": 0.003}},
    "orbit_lo": {
        "about": "orbit (360 deg ring at 30 deg), 30 views, second object arrangement with fine "
                 "texture (3-4 px periods), focus bracket, blur up to 9 px, noise 0.003",
        "covers": ["orbit", "30 views", "fine texture", "blur 6-9 px", "noise 0.003"],
        "scene": {"objects": "cluster", "texture_scale": 1.0},
        "render": {"layout": "orbit", "num_views": 30, "blur_px": [6.0, 9.0],
                   "focus_bracket": [5.0, 95.0], "seed": 13, "noise_std": 0.003}},
    "orbit_few_hi": {
        "about": "orbit, 9 views (7 train), default objects, random focus, blur up to 9 px, "
                 "noise 0.015",
        "covers": ["orbit", "9 views", "blur 6-9 px", "noise 0.015"],
        "scene": {"objects": "default"},
        "render": {"layout": "orbit", "num_views": 9, "blur_px": [6.0, 9.0], "seed": 14,
                   "noise_std": 0.015}},
    "fwd_fine_lo": {
        "about": "forward close-up (0.65x the distance, as in macro), 30 views, fine texture "
                 "(3-4 px periods), focus bracket, blur up to 12 px, noise 0.003",
        "covers": ["forward", "30 views", "close-up", "fine texture", "blur 9-12 px",
                   "noise 0.003"],
        "scene": {"objects": "default", "texture_scale": 1.6},
        "render": {"layout": "forward", "num_views": 30, "camera_distance": 0.65,
                   "blur_px": [9.0, 12.0], "focus_bracket": [5.0, 95.0], "seed": 15,
                   "noise_std": 0.003}},
}


def render_kwargs(entry):
  """render_scene keyword arguments of a DEV_SCENES entry (lists made tuples, scene built)."""
  kw = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["render"].items()}
  return {**kw, "scene": build_scene(entry["scene"]), "object_mesh": True}
