"""Photos on disk -> float arrays: listing, decoding, size checks and downsampled copies.

Photos are read upright (their EXIF orientation applied) and at their full bit depth
(image_utils.read_image); hidden files (names starting with '.', e.g. macOS `._IMG.jpg`) are not
photos.
"""
import os
import secrets
import shutil
import stat

import numpy as np
from PIL import Image

from macro_nerf import image_utils
from macro_nerf.errors import DataError, one_line

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def is_image_name(name):
  """A photo's file name: an image extension, and not hidden (macOS AppleDouble `._x.png`, ...)."""
  return not name.startswith(".") and name.lower().endswith(IMAGE_EXTS)


def list_images(folder):
  if not os.path.isdir(folder):
    raise DataError(f"{folder}: image folder does not exist")
  try:
    names = sorted(f for f in os.listdir(folder) if is_image_name(f))
  except OSError as e:
    raise DataError(f"{folder}: cannot list images ({e.strerror or e})") from None
  if not names:
    raise DataError(f"{folder}: no images found")
  return names


def skipped_files(folder):
  """Files in `folder` that list_images passes over and a user may have meant as photos (not
  hidden, not an image extension), sorted."""
  try:
    return sorted(f for f in os.listdir(folder) if not f.startswith(".") and not is_image_name(f)
                  and os.path.isfile(os.path.join(folder, f)))
  except OSError:
    return []


def _some(names, k=3):
  return ", ".join(names[:k]) + (f" (and {len(names) - k} more)" if len(names) > k else "")


def count_mismatch(folder, names, n_poses, poses_path):
  """The DataError for a folder whose photo count differs from the poses': photos pair with poses
  in name order, so it names the photos beyond the last pose, or the last photo before the poses
  left without one, and any files skipped as not photos."""
  msg = f"{folder}: {len(names)} images but {poses_path} has {n_poses} poses"
  if len(names) > n_poses:
    msg += f"; images pair with poses in name order, so these have none: {_some(names[n_poses:])}"
  else:
    last = f"after {names[-1]}" if names else "at all"
    msg += f"; the last {n_poses - len(names)} pose(s) have no image (none {last})"
  skipped = skipped_files(folder)
  if skipped:
    msg += f"; skipped as not {'/'.join(IMAGE_EXTS)}: {_some(skipped)}"
  return DataError(msg)


def load_image(path):
  try:
    return image_utils.read_image(path)
  except Exception as e:  # Pillow raises OSError, SyntaxError, EOFError, zlib.error... on bad files
    raise image_error(path, e) from None


def image_error(path, e):
  reason = one_line(e).replace(f" {str(path)!r}", "")  # Pillow repeats the path
  return DataError(f"{path}: not a readable image ({reason})")


def _shown_as(path, width, height):
  """'' for a photo without a rotating EXIF orientation, else how it is stored and turned."""
  o = image_utils.file_orientation(path)
  if o not in image_utils.ROTATING_ORIENTATIONS:
    return ""
  return f" (stored {height}x{width}, turned upright by its {image_utils.orientation_words(o)})"


def size_error(folder, names, k, size, size0):
  """The DataError for names[k] of (width, height) `size` differing from names[0]'s `size0`; a
  photo turned by its EXIF orientation says so."""
  path, path0 = os.path.join(folder, names[k]), os.path.join(folder, names[0])
  (w, h), (w0, h0) = size, size0
  return DataError(f"{path}: image is {w}x{h}{_shown_as(path, w, h)} but {names[0]} is "
                   f"{w0}x{h0}{_shown_as(path0, w0, h0)}; all images must have the same size")


def check_sizes(folder, names, images):
  """All images one size, else a DataError naming the first that differs from the first."""
  for k, im in enumerate(images):
    if im.shape[:2] != images[0].shape[:2]:
      raise size_error(folder, names, k, im.shape[1::-1], images[0].shape[1::-1])


def load_images(folder, names):
  ims = [load_image(os.path.join(folder, n)) for n in names]
  check_sizes(folder, names, ims)
  return np.stack(ims)


def find_image(folder, name):
  """The image `name` in `folder`, or one with the same stem and another image extension
  (downsampled folders hold PNGs; sharp references may be PNG beside JPEG photos); None when there
  is none."""
  path = os.path.join(folder, name)
  if os.path.isfile(path):
    return path
  base = os.path.basename(name)
  stems = (base, os.path.splitext(base)[0])  # `name` may be a stem itself
  try:
    same = sorted(f for f in os.listdir(folder)
                  if is_image_name(f) and os.path.splitext(f)[0] in stems)
  except OSError:
    return None
  return os.path.join(folder, same[0]) if same else None


def load_matching(folder, names):
  """The images of `folder` named as `names`, or with their stems (find_image)."""
  list_images(folder)  # the folder exists and holds images
  files = []
  for n in names:
    p = find_image(folder, n)
    if p is None:
      raise DataError(f"{folder}: no image for {n} (nor any {os.path.splitext(n)[0]}.*)")
    files.append(os.path.basename(p))
  return load_images(folder, files)


def make_dir(parent, prefix):
  """A new, uniquely named folder in `parent`, with the mode the umask gives (tempfile.mkdtemp's
  are 0700, which a folder renamed into place would keep)."""
  while True:
    path = os.path.join(parent, prefix + secrets.token_hex(4))
    try:
      os.mkdir(path, 0o777)
      return path
    except FileExistsError:
      continue


def _downsampled(src, names, factor, out):
  """Writes every photo of `src` shrunk by `factor` (upright, box filter) as PNG into `out`."""
  size = None
  for k, n in enumerate(names):
    p = os.path.join(src, n)
    try:
      with Image.open(p) as im:
        pixels, mode = image_utils.stored_pixels(p, im)
    except Exception as e:  # as load_image
      raise image_error(p, e) from None
    if size is not None and pixels.shape[1::-1] != size:
      raise size_error(src, names, k, pixels.shape[1::-1], size)
    size = size or pixels.shape[1::-1]
    Image.fromarray(image_utils.downsample_box(pixels, mode, factor)).save(
        os.path.join(out, os.path.splitext(n)[0] + ".png"))


def _remove_empty(folders):
  for d in folders:
    try:
      os.rmdir(d)
    except OSError:
      break


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
  tmp = make_dir(parent, ".tmp_resize_")
  try:
    _downsampled(src, names, factor, tmp)
    try:
      os.rename(tmp, dst)
    except OSError:
      if not os.path.isdir(dst):  # not another process that made it first
        raise
      shutil.rmtree(tmp, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    _remove_empty(made)
    raise
  return dst


def image_folder(path, image_dir, factor, check=None):
  if factor > 1:
    return downsampled_folder(path, image_dir, factor, check)
  return os.path.join(path, image_dir)
