"""Blurred photos beside the all-in-focus renders of several runs and the sharp truth; PNG + JSON.

  python experiments/side_by_side.py SCENE OUT.png --run=LABEL:WORKDIR [--run=...] \
      [--views=IMG_4027,IMG_4030] [--crop=x,y,w,h] [--scale=2]

SCENE has images/ (the photos the runs trained on) and images_sharp/ (the truth); every WORKDIR
was evaluated with `macro_nerf.eval` (its eval/train_deblur/<name>.png). One row per view:
photo | each run | truth, cropped and enlarged by pixel repetition so texture and speckle show.
Prints one JSON line per view and image: PSNR against the truth and the Laplacian variance (a
sharpness hint that noise and speckle inflate, as in issue 29).
"""
import json
import os
import sys

import numpy as np
from absl import app, flags
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from macro_nerf import image_utils  # noqa: E402
from macro_nerf.data.images import list_images  # noqa: E402

_RUNS = flags.DEFINE_multi_string("run", [], "LABEL:WORKDIR of an evaluated run.")
_VIEWS = flags.DEFINE_list("views", [], "Photo stems to show (default: the first two blurred).")
_CROP = flags.DEFINE_list("crop", [], "x,y,w,h of the crop in pixels (default: whole image).")
_SCALE = flags.DEFINE_integer("scale", 1, "Pixel repetition of the crops.")


def laplacian_variance(img):
  """Variance of the 4-neighbour Laplacian of the luminance (H, W, 3) in [0, 1], x 255^2."""
  y = 255.0 * (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2])
  lap = y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4.0 * y[1:-1, 1:-1]
  return float(lap.var())


def main(argv):
  if len(argv) != 3:
    sys.exit("usage: side_by_side.py SCENE OUT.png --run=LABEL:WORKDIR ...")
  scene, out = argv[1], argv[2]
  runs = [r.split(":", 1) for r in _RUNS.value]
  names = {os.path.splitext(n)[0]: n for n in list_images(os.path.join(scene, "images"))}
  views = _VIEWS.value or [s for s in sorted(names)
                           if os.path.isfile(os.path.join(runs[0][1], "eval", "train_deblur",
                                                          s + ".png"))][:2]
  rows = []
  for stem in views:
    photo = image_utils.load_rgb(os.path.join(scene, "images", names[stem]))
    sharp = image_utils.load_rgb(os.path.join(scene, "images_sharp", names[stem]))
    cells = [("photo", photo)]
    for label, wd in runs:
      path = os.path.join(wd, "eval", "train_deblur", stem + ".png")
      if not os.path.isfile(path):
        sys.exit(f"error: {path} does not exist (run macro_nerf.eval on {wd})")
      cells.append((label, image_utils.load_rgb(path)[:photo.shape[0], :photo.shape[1]]))
    cells.append(("truth", sharp))
    for label, img in cells:
      score = None if label == "truth" else round(image_utils.psnr(img, sharp), 2)
      print(json.dumps({"view": stem, "image": label, "psnr": score,
                        "laplacian_var": round(laplacian_variance(img), 1)}))
    if _CROP.value:
      x, y, w, h = (int(v) for v in _CROP.value)
      cells = [(label, img[y:y + h, x:x + w]) for label, img in cells]
    rows.append([(f"{stem} {label}", np.repeat(np.repeat(img, _SCALE.value, 0), _SCALE.value, 1))
                 for label, img in cells])
  h, w = rows[0][0][1].shape[:2]
  sheet = Image.new("RGB", (w * len(rows[0]), (h + 16) * len(rows)), "black")
  draw = ImageDraw.Draw(sheet)
  for i, row in enumerate(rows):
    for j, (label, img) in enumerate(row):
      sheet.paste(Image.fromarray(image_utils.to_uint8(img)), (j * w, i * (h + 16) + 16))
      draw.text((j * w + 4, i * (h + 16) + 2), label, fill="white")
  sheet.save(out)
  print(json.dumps({"out": out, "size": sheet.size}))


if __name__ == "__main__":
  app.run(main)
