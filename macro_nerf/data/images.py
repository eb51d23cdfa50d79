"""Photos on disk -> float arrays: listing, decoding, size checks and downsampled copies."""
import os
import shutil
import stat
import tempfile

import numpy as np
from PIL import Image

from macro_nerf.errors import DataError, one_line

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def list_images(folder):
  if not os.path.isdir(folder):
    raise DataError(f"{folder}: image folder does not exist")
  try:
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
  except OSError as e:
    raise DataError(f"{folder}: cannot list images ({e.strerror or e})") from None
  if not names:
    raise DataError(f"{folder}: no images found")
  return names


def load_image(path):
  try:
    with Image.open(path) as im:
      return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
  except Exception as e:  # Pillow raises OSError, SyntaxError, EOFError, zlib.error... on bad files
    raise image_error(path, e) from None


def image_error(path, e):
  reason = one_line(e).replace(f" {str(path)!r}", "")  # Pillow repeats the path
  return DataError(f"{path}: not a readable image ({reason})")


def check_sizes(folder, names, images):
  """All images one size, else a DataError naming the first that differs from the first."""
  for n, im in zip(names, images):
    if im.shape[:2] != images[0].shape[:2]:
      (h, w), (h0, w0) = im.shape[:2], images[0].shape[:2]
      raise DataError(f"{os.path.join(folder, n)}: image is {w}x{h} but {names[0]} is {w0}x{h0}; "
                      "all images must have the same size")


def load_images(folder, names):
  ims = [load_image(os.path.join(folder, n)) for n in names]
  check_sizes(folder, names, ims)
  return np.stack(ims)


def downsampled_folder(path, image_dir, factor, check=None):
  """Returns `{image_dir}_{factor}`, creating it with Pillow (box filter) when it is missing.

  Written to a temporary folder then renamed, so a failure (an unreadable image, mixed sizes, or
  `check(src_folder, names)` raising before anything is written) leaves nothing half-made. When the
  scene folder is read-only the downsampled images are made in a per-user cache instead.
  """
  src = os.path.join(path, image_dir)
  dst = os.path.join(path, f"{image_dir}_{factor}")
  if os.path.isdir(dst):
    return dst
  names = list_images(src)
  # Read-only by its mode bits counts too: root passes os.access on any folder.
  writable = os.access(path, os.W_OK) and os.stat(path).st_mode & stat.S_IWUSR
  parent = path if writable else os.path.join(
      os.path.expanduser("~"), ".cache", "macro_nerf",
      os.path.abspath(path).strip(os.sep).replace(os.sep, "_"))
  dst = os.path.join(parent, f"{image_dir}_{factor}")
  if os.path.isdir(dst):
    return dst
  if check is not None:
    check(src, names)
  made = []  # the folders made here, innermost first, removed again on failure when still empty
  d = parent
  while not os.path.isdir(d):
    made.append(d)
    d = os.path.dirname(d)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp_resize_")
  try:
    size = None
    for n in names:
      try:
        with Image.open(os.path.join(src, n)) as im:
          rgb = im.convert("RGB")
      except Exception as e:  # as load_image
        raise image_error(os.path.join(src, n), e) from None
      if size is not None and rgb.size != size:
        raise DataError(f"{os.path.join(src, n)}: image is {rgb.size[0]}x{rgb.size[1]} but "
                        f"{names[0]} is {size[0]}x{size[1]}; all images must have the same size")
      size = size or rgb.size
      w, h = rgb.size
      rgb.resize((w // factor, h // factor), Image.BOX).save(
          os.path.join(tmp, os.path.splitext(n)[0] + ".png"))
    try:
      os.rename(tmp, dst)
    except OSError:
      if not os.path.isdir(dst):  # not another process that made it first
        raise
      shutil.rmtree(tmp, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    for d in made:
      try:
        os.rmdir(d)
      except OSError:
        break
    raise
  return dst


def image_folder(path, image_dir, factor, check=None):
  if factor > 1:
    return downsampled_folder(path, image_dir, factor, check)
  return os.path.join(path, image_dir)

