"""A real capture made into a defocus capture: its own photos, blurred by a thin lens.

  python experiments/make_real_defocus.py WORKDIR OUT [--max_radius=8] [--jpeg_quality=0]

WORKDIR is a run trained on the sharp capture (e.g. fern, `--config=llff --config.data.factor=8`);
its rendered depth gives every pixel a z-depth. Each training photo (index % llffhold != 0) is
blurred by the scatter-form thin-lens blur of macro_nerf/defocus/blur.py, in linear light, with
the focus of view i at the i-th of a cycle of depth quantiles (near to far, so every depth is in
focus in some photos) and an aperture that makes the largest blur `max_radius` pixels; held-out
photos stay sharp, as in Deblur-NeRF's defocus captures. The photos keep what makes real captures
hard (real texture, COLMAP poses, exposure, sensor noise, optionally JPEG); the blur is our model's.

OUT gets the layout of ../shared/scenes: images/ (blurred; sharp where held out), images_sharp/ (the
photos), poses_bounds.npy, depth/NNN.npy (rendered z-depth, world units), lens.json.
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from macro_nerf import image_utils  # noqa: E402
from macro_nerf.defocus.blur import refocus  # noqa: E402
from macro_nerf.nerf import render  # noqa: E402
from macro_nerf.nerf.model import model_params  # noqa: E402
from macro_nerf.training.checkpoints import load_run  # noqa: E402

_MAX_RADIUS = flags.DEFINE_float("max_radius", 8.0, "Largest CoC radius in pixels.")
_QUANTILES = flags.DEFINE_list("focus_quantiles", ["0.1", "0.4", "0.7", "0.95"],
                               "Depth quantiles the views focus at, in turn.")
_JPEG = flags.DEFINE_integer("jpeg_quality", 0, "Save JPEGs of this quality (0: PNG).")
_MARGIN = 10


def lens_for(depth, quantile, max_radius):
  """Focus at the depth `quantile` of a view, kappa so the farthest blur is max_radius px."""
  d = depth[np.isfinite(depth)]
  s = float(np.quantile(d, quantile))
  lo, hi = np.quantile(d, [0.01, 0.99])
  worst = max(abs(1 / lo - 1 / s), abs(1 / hi - 1 / s))
  return s, max_radius / worst


def main(argv):
  if len(argv) != 3:
    sys.exit("usage: make_real_defocus.py WORKDIR OUT")
  wd, out = argv[1], argv[2]
  config, scene, model, state = load_run(wd)
  src = os.path.join(scene.path, f"{config.data.image_dir}_{config.data.factor}"
                     if config.data.factor > 1 else config.data.image_dir)
  if os.path.exists(out):
    sys.exit(f"error: {out} exists")
  for sub in ("images", "images_sharp", "depth"):
    os.makedirs(os.path.join(out, sub))
  shutil.copy(os.path.join(scene.path, "poses_bounds.npy"), out)
  render_fn = render.make_render_fn(model)
  data = render.device_data(scene, np.arange(len(scene.names)))
  params = model_params(state.params)
  views, m = [], _MARGIN
  quantiles = [float(q) for q in _QUANTILES.value]
  for k, name in enumerate(tqdm(scene.names, desc="views")):
    o = render.render_view(render_fn, params, data, k, scene.height, scene.width,
                           config.eval.chunk, margin=m)
    depth = o["depth"] / scene.scale  # world units, with the margin
    stem = os.path.splitext(name)[0]
    np.save(os.path.join(out, "depth", f"{stem}.npy"), depth[m:-m, m:-m].astype(np.float32))
    photo = image_utils.load_rgb(os.path.join(src, name))
    ext = ".jpg" if _JPEG.value else ".png"
    kw = {"quality": _JPEG.value} if _JPEG.value else {}
    Image.fromarray(image_utils.to_uint8(photo)).save(  # the names of images/ (eval pairs them)
        os.path.join(out, "images_sharp", stem + ext), **({"quality": 100} if kw else {}))
    held_out = config.data.llffhold > 0 and k % config.data.llffhold == 0
    s, kappa = lens_for(depth[m:-m, m:-m], quantiles[k % len(quantiles)], _MAX_RADIUS.value)
    if held_out:
      blurred = photo
      kappa = 0.0
    else:
      lin = np.pad(image_utils.srgb_to_linear(photo, xnp=np), ((m, m), (m, m), (0, 0)),
                   mode="reflect")
      blurred = image_utils.linear_to_srgb(refocus(lin, depth, s, kappa, m), xnp=np)
    Image.fromarray(image_utils.to_uint8(blurred)).save(os.path.join(out, "images", stem + ext),
                                                        **kw)
    views.append({"file": stem + ext, "focus_distance": s, "coc_scale_px": kappa,
                  "held_out": bool(held_out)})
  with open(os.path.join(out, "lens.json"), "w") as f:
    json.dump({"source": os.path.abspath(wd), "max_radius_px": _MAX_RADIUS.value,
               "views": views}, f, indent=1)
  print(json.dumps({"out": out, "views": len(views)}))


if __name__ == "__main__":
  app.run(main)
