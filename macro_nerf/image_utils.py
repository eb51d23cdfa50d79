"""Colour transfer curves, image metrics, reading and writing photos, depth colour maps."""
import sys

import jax.numpy as jnp
import numpy as np
from PIL import ExifTags, Image, ImageOps
from skimage.metrics import structural_similarity


def linear_to_srgb(x, xnp=jnp):
  """sRGB OETF; the linear toe keeps the gradient finite at 0."""
  x = xnp.clip(x, 0.0, 1.0)
  return xnp.where(x <= 0.0031308, 12.92 * x,
                   1.055 * xnp.power(xnp.maximum(x, 0.0031308), 1.0 / 2.4) - 0.055)


def srgb_to_linear(x, xnp=jnp):
  x = xnp.clip(x, 0.0, 1.0)
  return xnp.where(x <= 0.04045, x / 12.92, xnp.power((xnp.maximum(x, 0.04045) + 0.055) / 1.055, 2.4))


def psnr(a, b):
  mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
  return float(-10.0 * np.log10(max(mse, 1e-12)))


def ssim(a, b):
  return float(structural_similarity(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                     channel_axis=2, data_range=1.0))


def to_uint8(x):
  return (np.clip(np.asarray(x), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_png(path, x):
  Image.fromarray(to_uint8(x)).save(path)


def colorize_depth(depth, lo=None, hi=None):
  """Inverse-depth colour map (near bright), without matplotlib."""
  d = np.asarray(depth, np.float64)
  lo = np.percentile(d, 1) if lo is None else lo
  hi = np.percentile(d, 99) if hi is None else hi
  v = np.clip((1 / d - 1 / hi) / max(1 / lo - 1 / hi, 1e-12), 0, 1)
  # A short perceptual ramp (dark blue -> teal -> yellow), interpolated.
  stops = np.array([[0.05, 0.03, 0.35], [0.1, 0.45, 0.55], [0.45, 0.75, 0.3], [0.99, 0.9, 0.15]])
  x = v * (len(stops) - 1)
  i = np.clip(np.floor(x).astype(int), 0, len(stops) - 2)
  f = (x - i)[..., None]
  return stops[i] * (1 - f) + stops[i + 1] * f


# ----------------------------------------------------------------------------- reading photos
# Photos are read upright (their EXIF orientation applied, as every viewer shows them) and at
# their full bit depth: 8-bit values / 255, 16-bit / 65535, grey replicated to RGB, alpha dropped.

ROTATING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_ORIENTATION_WORDS = {2: "mirrored", 3: "rotated 180 degrees", 4: "flipped upside down",
                      5: "transposed", 6: "rotated 90 degrees", 7: "transversed",
                      8: "rotated 270 degrees"}
_UNSUPPORTED_MODES = ("LAB",)  # Pillow "converts" these to RGB without a colour transform
_SWAPPED_ENDIAN = {"16B": "16L", "16L": "16B", "16N": "16L" if sys.byteorder == "big" else "16B"}


def orientation(im):
  """The EXIF orientation (1-8) of an opened Pillow image; 1 when it has none."""
  value = im.getexif().get(ExifTags.Base.Orientation, 1)
  return value if value in range(1, 9) else 1


def orientation_words(value):
  """'EXIF orientation 6 (rotated 90 degrees)', for messages."""
  return f"EXIF orientation {value} ({_ORIENTATION_WORDS.get(value, 'none')})"


def upright_size(im):
  """(width, height) of an opened image as shown, after its EXIF orientation."""
  w, h = im.size
  return (h, w) if orientation(im) in ROTATING_ORIENTATIONS else (w, h)


def upright(im):
  """The image turned as its EXIF orientation says (loaded; itself when it says nothing)."""
  im.load()
  return ImageOps.exif_transpose(im) if orientation(im) != 1 else im


def _tile_rawmode(im):
  """The raw mode Pillow will decode an opened, not yet loaded, image with ('' when unknown)."""
  if not getattr(im, "tile", None):
    return ""
  args = im.tile[0].args
  return args if isinstance(args, str) else (args[0] if args and isinstance(args[0], str) else "")


def wide_colour(im):
  """True for 16-bit colour (RGB, RGBA, grey + alpha), which Pillow decodes to 8 bits."""
  return im.mode in ("RGB", "RGBA") and ";16" in _tile_rawmode(im)


def _redecoded(path, rawmode):
  """The photo at `path` decoded again with another raw mode of the same bits per pixel, upright."""
  with Image.open(path) as im:
    t = im.tile[0]
    im.tile = [t._replace(args=rawmode if isinstance(t.args, str) else
                          (rawmode,) + tuple(t.args[1:]))]
    return np.asarray(upright(im))


def _wide_pixels(path, high, rawmode):
  """(uint16 pixels, mode) of a 16-bit colour photo whose high bytes Pillow gave as `high`: decoded
  again with the opposite byte order, Pillow's unpacker keeps the bytes it dropped the first time.
  Grey + alpha has no such unpacker; its four bytes per pixel come back whole as 8-bit RGBA."""
  if rawmode == "LA;16B":
    raw = _redecoded(path, "RGBA")
    return combine_bytes(raw[..., 0], raw[..., 1]), "I;16"
  low = _redecoded(path, rawmode[:-3] + _SWAPPED_ENDIAN[rawmode[-3:]])
  return combine_bytes(high, low), "RGB"


def combine_bytes(high, low):
  """16-bit values from their high and low bytes."""
  return high.astype(np.uint16) << 8 | low.astype(np.uint16)


def to_unit_rgb(pixels, mode):
  """Stored pixel values of a Pillow mode -> float32 (H, W, 3) in [0, 1]: grey replicated, alpha
  dropped. Raises ValueError (a sentence) for values with no defined white level."""
  x = np.asarray(pixels)
  if mode.startswith("I;16") or (mode in ("RGB", "RGBA") and x.dtype == np.uint16):
    x = x.astype(np.float32) / 65535.0
  elif mode == "I":  # 32-bit integers: Pillow's old mode for 16-bit grey; no other white level
    if x.size and (x.min() < 0 or x.max() > 65535):
      raise ValueError(f"32-bit integer pixels (mode I) range {x.min()}..{x.max()}, beyond "
                       "0..65535: no white level to scale them by; save 8- or 16-bit")
    x = x.astype(np.float32) / 65535.0
  elif mode == "F":
    if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
      raise ValueError("32-bit float pixels (mode F) outside [0, 1]; save 8- or 16-bit, or "
                       "floats scaled to [0, 1]")
    x = x.astype(np.float32)
  else:
    x = x.astype(np.float32) / 255.0
  if x.ndim == 2:
    x = x[..., None]
  return np.ascontiguousarray(np.broadcast_to(x[..., :1], x.shape[:2] + (3,))
                              if x.shape[-1] < 3 else x[..., :3])


def stored_pixels(path, im):
  """(pixels, mode) of an opened photo, upright, at its full depth (8-bit modes made RGB)."""
  rawmode = _tile_rawmode(im) if wide_colour(im) else ""  # known only before loading
  up = upright(im)
  if rawmode:
    return _wide_pixels(path, np.asarray(up), rawmode)
  if up.mode in ("I", "F") or up.mode.startswith("I;16"):
    return np.asarray(up), up.mode
  if up.mode in _UNSUPPORTED_MODES:
    raise ValueError(f"pixel format {up.mode} is not supported; save as RGB")
  return np.asarray(up.convert("RGB")), "RGB"


def read_image(path):
  """A photo as float32 (H, W, 3) in [0, 1], upright, from any bit depth and mode Pillow reads.

  Raises what Pillow raises for unreadable files, and ValueError for pixels without a white level.
  """
  with Image.open(path) as im:
    pixels, mode = stored_pixels(path, im)
  return to_unit_rgb(pixels, mode)


def load_rgb(path):
  return read_image(path)


def file_orientation(path):
  """The EXIF orientation of the photo at `path` (1 when it has none or cannot be read)."""
  try:
    with Image.open(path) as im:
      im.load()  # a PNG may hold its EXIF after the pixels
      return orientation(im)
  except Exception:  # pylint: disable=broad-except  # only for a message about a readable file
    return 1


def downsample_box(pixels, mode, factor):
  """stored_pixels shrunk by an integer factor with Pillow's box filter to (h // f, w // f): uint8
  RGB. 8-bit RGB goes through Pillow's 8-bit filter (as images_N folders always were); deeper
  values are filtered as floats, then rounded."""
  h, w = np.asarray(pixels).shape[:2]
  size = (w // factor, h // factor)
  if mode == "RGB" and np.asarray(pixels).dtype == np.uint8:
    return np.asarray(Image.fromarray(np.asarray(pixels)).resize(size, Image.BOX))
  x = to_unit_rgb(pixels, mode)
  channels = [Image.fromarray(np.ascontiguousarray(x[..., c])).resize(size, Image.BOX)
              for c in range(3)]
  return to_uint8(np.stack([np.asarray(c) for c in channels], -1))


_TURBO = (  # polynomial fit of Google's Turbo colour map (A. Mikhailov, R. Du), x in [0, 1]
    np.array([0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943]),
    np.array([0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604]),
    np.array([0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973]))


def turbo(x):
  """Turbo colour map of x in [0, 1] (clipped): (..., 3) in [0, 1]; dark blue -> green -> red."""
  x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
  powers = np.stack([x ** k for k in range(6)], -1)
  return np.clip(np.stack([powers @ c for c in _TURBO], -1), 0.0, 1.0)


def depth_colors(depth, lo, hi):
  """Turbo over inverse depth between lo and hi (world units): near red, far blue."""
  d = np.maximum(np.asarray(depth, np.float64), 1e-12)
  return turbo((1.0 / d - 1.0 / hi) / max(1.0 / lo - 1.0 / hi, 1e-12))
