"""Photos load upright and at their full bit depth, whatever their mode, against float64
expectations computed here from the stored values; what has no white level is refused by name."""
import os
import struct
import zlib

import numpy as np
import pytest
import tifffile  # scikit-image's dependency: writes the 16-bit colour and big-endian TIFFs
from PIL import ExifTags, Image

from macro_nerf import image_utils
from macro_nerf.data import sfm, tfds_scenes
from macro_nerf.data.images import list_images, load_image, load_images
from macro_nerf.data.llff import load_llff
from macro_nerf.errors import DataError

H, W = 5, 7
RNG = np.random.default_rng(0)


def png16(path, values, exif=None):
  """A 16-bit PNG (grey, grey + alpha, RGB or RGBA by the last axis) written byte by byte: Pillow
  cannot write 16-bit colour. Rows use the Sub filter, so decoding has to undo it."""
  values = values if values.ndim == 3 else values[..., None]
  h, w, c = values.shape
  rows = values.astype(">u2").view(np.uint8).reshape(h, w * 2 * c).astype(np.int16)
  sub = rows.copy()
  sub[:, 2 * c:] -= rows[:, :-2 * c]  # each byte minus the same byte of the pixel to its left
  raw = b"".join(b"\x01" + (r % 256).astype(np.uint8).tobytes() for r in sub)

  def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

  colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
  extra = chunk(b"eXIf", exif) if exif else b""
  with open(path, "wb") as f:
    header = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def grey3(x):
  return np.repeat(np.asarray(x, np.float64)[..., None], 3, -1)


def u8(*shape):
  return RNG.integers(0, 256, shape).astype(np.uint8)


def u16(*shape):
  return RNG.integers(0, 65536, shape).astype(np.uint16)


def _case_1(p):
  bits = RNG.integers(0, 2, (H, W)).astype(bool)
  Image.fromarray(bits).save(p + ".png")
  return p + ".png", grey3(bits)


def _case_l(p):
  x = u8(H, W)
  Image.fromarray(x).save(p + ".png")
  return p + ".png", grey3(x / 255.0)


def _case_la(p):
  x = u8(H, W, 2)
  Image.merge("LA", [Image.fromarray(x[..., k]) for k in range(2)]).save(p + ".png")
  return p + ".png", grey3(x[..., 0] / 255.0)  # alpha dropped, as for RGBA


def _case_p(p):
  palette = u8(256, 3)
  idx = u8(H, W)
  im = Image.fromarray(idx).convert("P")
  im.putpalette(palette.ravel().tolist())
  im.putdata(idx.ravel().tolist())
  im.save(p + ".png")
  return p + ".png", palette[idx] / 255.0


def _case_rgb(p):
  x = u8(H, W, 3)
  Image.fromarray(x).save(p + ".png")
  return p + ".png", x / 255.0


def _case_rgba(p):
  x = u8(H, W, 4)
  Image.fromarray(x).save(p + ".png")
  return p + ".png", x[..., :3] / 255.0  # alpha dropped, as the loader always did


def _case_bmp(p):
  x = u8(H, W, 3)
  Image.fromarray(x).save(p + ".bmp")
  return p + ".bmp", x / 255.0


def _case_cmyk(p):
  x = u8(H, W, 4)
  Image.merge("CMYK", [Image.fromarray(x[..., k]) for k in range(4)]).save(p + ".tif")
  c = x.astype(np.float64) / 255.0  # no colour profile: RGB = (1 - C)(1 - K) and so on
  return p + ".tif", (1 - c[..., :3]) * (1 - c[..., 3:])


def _case_i16_png(p):
  x = u16(H, W)
  Image.fromarray(x).save(p + ".png")  # mode I;16
  return p + ".png", grey3(x / 65535.0)


def _case_i16_tiff_big_endian(p):
  x = u16(H, W)
  tifffile.imwrite(p + ".tif", x, byteorder=">")
  return p + ".tif", grey3(x / 65535.0)


def _case_i(p):
  x = RNG.integers(0, 65536, (H, W)).astype(np.int32)
  Image.fromarray(x).save(p + ".tif")  # mode I: Pillow's old mode for 16-bit grey
  return p + ".tif", grey3(x / 65535.0)


def _case_f(p):
  x = RNG.uniform(0, 1, (H, W)).astype(np.float32)
  Image.fromarray(x).save(p + ".tif")
  return p + ".tif", grey3(x)


def _case_png16(channels):
  def case(p):
    x = u16(H, W, channels)
    png16(p + ".png", x)
    return p + ".png", (x[..., :3] if channels >= 3 else grey3(x[..., 0])) / 65535.0
  return case


def _case_tiff16(compression):
  def case(p):
    x = u16(H, W, 3)
    tifffile.imwrite(p + ".tif", x, compression=compression)
    return p + ".tif", x / 65535.0
  return case


CASES = {"1": _case_1, "L": _case_l, "LA": _case_la, "P": _case_p, "RGB": _case_rgb,
         "RGBA": _case_rgba, "BMP": _case_bmp, "CMYK": _case_cmyk, "I;16 png": _case_i16_png,
         "I;16B tiff": _case_i16_tiff_big_endian, "I": _case_i, "F": _case_f,
         "16-bit LA png": _case_png16(2), "16-bit RGB png": _case_png16(3),
         "16-bit RGBA png": _case_png16(4), "16-bit RGB tiff": _case_tiff16(None),
         "16-bit RGB tiff zlib": _case_tiff16("zlib")}


@pytest.mark.parametrize("case", CASES)
def test_every_mode_loads_to_its_values(tmp_path, case):
  path, expected = CASES[case](str(tmp_path / "im"))
  got = load_image(path)
  assert got.dtype == np.float32 and got.shape == (H, W, 3)
  # float32 of value / white: within float32 rounding; Pillow's 8-bit CMYK -> RGB rounds to bytes.
  tol = 0.5 / 255 + 1e-6 if case == "CMYK" else 1e-7
  np.testing.assert_allclose(got.astype(np.float64), expected, rtol=0, atol=tol)


def test_a_16_bit_grey_png_is_not_white(tmp_path):
  """The reported case: 16-bit grey loaded as pure white (Pillow's I;16 -> RGB clips)."""
  x = np.full((H, W), 28049, np.uint16)  # 0.428
  Image.fromarray(x).save(tmp_path / "g.png")
  assert abs(float(load_image(str(tmp_path / "g.png")).mean()) - 28049 / 65535) < 1e-6


@pytest.mark.parametrize("make,what", [
    (lambda p: Image.fromarray(np.full((H, W), 70000, np.int32)).save(p), "mode I"),
    (lambda p: Image.fromarray(np.full((H, W), 1.5, np.float32)).save(p), "mode F"),
    (lambda p: Image.fromarray(np.full((H, W), np.nan, np.float32)).save(p), "mode F"),
    (lambda p: Image.new("LAB", (W, H)).save(p), "LAB"),
])
def test_pixels_without_a_white_level_are_refused_by_name(tmp_path, make, what):
  p = str(tmp_path / "x.tif")
  make(p)
  with pytest.raises(DataError) as e:
    load_image(p)
  msg = str(e.value)
  assert msg.startswith(p + ": ") and what in msg and "\n" not in msg


# ------------------------------------------------------------------------------------------------
# EXIF orientation

# Orientation -> how the stored pixels relate to the upright picture x (the inverse of the turn
# a viewer applies), in numpy terms.
STORED = {1: lambda x: x, 2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1],
          4: lambda x: x[::-1], 5: lambda x: x.swapaxes(0, 1),
          6: lambda x: np.rot90(x, 1), 7: lambda x: np.rot90(x, 2).swapaxes(0, 1),
          8: lambda x: np.rot90(x, -1)}


def _exif(orientation):
  e = Image.Exif()
  e[ExifTags.Base.Orientation] = orientation
  return e


def save_turned(path, upright, orientation, **kw):
  """Saves `upright` (uint8 H x W x 3) stored as a camera turned by `orientation` would."""
  stored = np.ascontiguousarray(STORED[orientation](upright))
  Image.fromarray(stored).save(path, exif=_exif(orientation), **kw)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
  x = u8(H, W, 3)
  p = str(tmp_path / "o.png")
  save_turned(p, x, orientation)
  with Image.open(p) as im:
    assert image_utils.orientation(im) == orientation
    assert image_utils.upright_size(im) == (W, H)
  np.testing.assert_array_equal(load_image(p), x / np.float32(255.0))


def test_exif_orientation_of_jpeg_and_16_bit_png(tmp_path):
  x = u8(16, 24, 3)
  save_turned(str(tmp_path / "o.jpg"), x, 6, quality=100, subsampling=0)
  assert np.abs(load_image(str(tmp_path / "o.jpg")) - x / 255.0).max() < 0.05
  y = u16(H, W, 3)
  png16(str(tmp_path / "o16.png"), np.ascontiguousarray(STORED[8](y)), _exif(8).tobytes()[6:])
  np.testing.assert_allclose(load_image(str(tmp_path / "o16.png")), y / 65535.0, atol=1e-7)


# ------------------------------------------------------------------------------------------------
# Scene folders: hidden files, counts, sizes, downsampled copies


def tiny_llff(root, n=3, h=H * 2, w=W * 2):
  """An LLFF folder of n random photos and poses (cameras side by side, looking down -z)."""
  root.mkdir(parents=True, exist_ok=True)
  (root / "images").mkdir()
  photos = [u8(h, w, 3) for _ in range(n)]
  for i, x in enumerate(photos):
    Image.fromarray(x).save(root / "images" / f"{i:03d}.png")
  poses = np.zeros((n, 3, 5))
  poses[:, :, :3] = [[0, 1, 0], [1, 0, 0], [0, 0, -1]]  # LLFF columns: down, right, back
  poses[:, 0, 3] = np.arange(n) * 0.1
  poses[:, :, 4] = [h, w, w]
  np.save(root / "poses_bounds.npy",
          np.concatenate([poses.reshape(n, 15), np.tile([[1.0, 10.0]], (n, 1))], 1))
  return root, photos


def test_hidden_and_appledouble_files_are_not_photos(tmp_path):
  scene, photos = tiny_llff(tmp_path / "s")
  (scene / "images" / "._000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
  (scene / "images" / ".DS_Store").write_bytes(b"\x00")
  (scene / "images" / ".hidden.jpg").write_bytes(b"")
  assert list_images(str(scene / "images")) == ["000.png", "001.png", "002.png"]
  images = load_llff(str(scene))[0]
  np.testing.assert_array_equal(images, np.stack(photos) / np.float32(255.0))
  load_llff(str(scene), factor=2)  # the downsampled copy skips them too
  assert sorted(os.listdir(scene / "images_2")) == ["000.png", "001.png", "002.png"]


def test_a_count_mismatch_names_the_files(tmp_path):
  scene, _ = tiny_llff(tmp_path / "s")
  Image.fromarray(u8(H * 2, W * 2, 3)).save(scene / "images" / "003.png")
  Image.fromarray(u8(H * 2, W * 2, 3)).save(scene / "images" / "004.png")
  with pytest.raises(DataError) as e:
    load_llff(str(scene))
  msg = str(e.value)
  assert "5 images" in msg and "3 poses" in msg and "003.png, 004.png" in msg
  for n in ("002.png", "003.png", "004.png"):
    os.remove(scene / "images" / n)
  (scene / "images" / "002.heic").write_bytes(b"")
  with pytest.raises(DataError) as e:
    load_llff(str(scene), factor=2)
  msg = str(e.value)
  assert "2 images" in msg and "after 001.png" in msg and "002.heic" in msg
  assert not os.path.exists(scene / "images_2")


def test_a_turned_photo_that_still_differs_says_so(tmp_path):
  scene, photos = tiny_llff(tmp_path / "s")
  portrait = u8(W * 2, H * 2, 3)  # upright it is tall: stored wide, orientation 6
  save_turned(str(scene / "images" / "001.png"), portrait, 6)
  for factor in (1, 2):
    with pytest.raises(DataError) as e:
      load_llff(str(scene), factor=factor)
    msg = str(e.value)
    assert msg.startswith(str(scene / "images" / "001.png"))
    assert "EXIF orientation 6" in msg and "000.png is 14x10" in msg
  # Stored turned but upright the same size as the others: loads, upright.
  save_turned(str(scene / "images" / "001.png"), photos[1], 6)
  images = load_llff(str(scene))[0]
  np.testing.assert_array_equal(images[1], photos[1] / np.float32(255.0))


def test_downsampled_folder_is_upright_and_follows_the_umask(tmp_path):
  scene, photos = tiny_llff(tmp_path / "s", h=8, w=12)
  save_turned(str(scene / "images" / "002.png"), photos[2], 3)
  old = os.umask(0o022)
  try:
    images = load_llff(str(scene), factor=2)[0]
  finally:
    os.umask(old)
  assert os.stat(scene / "images_2").st_mode & 0o777 == 0o755
  # The upright photo through Pillow's 8-bit box filter, as images_N folders always were made.
  box = np.asarray(Image.fromarray(photos[2]).resize((6, 4), Image.BOX))
  np.testing.assert_array_equal(images[2], box / np.float32(255.0))


def test_16_bit_photos_downsample_from_their_full_values(tmp_path):
  scene, _ = tiny_llff(tmp_path / "s", h=8, w=12)
  y = u16(8, 12, 3)
  os.remove(scene / "images" / "000.png")
  png16(str(scene / "images" / "000.png"), y)
  images = load_llff(str(scene), factor=2)[0]
  box = y.astype(np.float64).reshape(4, 2, 6, 2, 3).mean((1, 3)) / 65535.0
  np.testing.assert_allclose(images[0], np.round(box * 255) / 255, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# COLMAP input and TFDS packing see the photos upright


def test_colmap_input_is_upright(tmp_path):
  folder = tmp_path / "photos"
  folder.mkdir()
  photos = [u8(H, W, 3) for _ in range(3)]
  for i, x in enumerate(photos):
    save_turned(str(folder / f"{i}.png"), x, 6 if i == 1 else 1)
  (folder / "._1.png").write_bytes(b"AppleDouble")
  names, size, turned = sfm.check_images(str(folder))
  assert names == ["0.png", "1.png", "2.png"] and size == (W, H) and turned == ["1.png"]
  work = tmp_path / "work"
  work.mkdir()
  out = sfm.upright_folder(str(folder), names, turned, str(work))
  for i, n in enumerate(names):
    with Image.open(os.path.join(out, n)) as im:
      assert image_utils.orientation(im) == 1
      np.testing.assert_array_equal(np.asarray(im.convert("RGB")), photos[i])
  assert os.path.islink(os.path.join(out, "0.png"))
  assert not os.path.islink(os.path.join(out, "1.png"))
  assert sfm.upright_folder(str(folder), names, [], str(work)) == str(folder)
  save_turned(str(folder / "2.png"), u8(W, H, 3), 6)  # upright tall: mixed sizes, named
  with pytest.raises(DataError, match="mixed sizes.*EXIF orientation.*1.png, 2.png turned"):
    sfm.check_images(str(folder))


def test_tfds_packs_photos_upright(tmp_path):
  scene, photos = tiny_llff(tmp_path / "s")
  save_turned(str(scene / "images" / "001.png"), photos[1], 8)
  examples = dict(tfds_scenes.scene_examples(str(scene)))
  with Image.open(examples[1]["image"]) as im:
    np.testing.assert_array_equal(np.asarray(im), photos[1])


def test_load_images_mixes_modes_by_value(tmp_path):
  """One scene, photos in different modes: the same picture loads the same."""
  x = u8(H, W)
  Image.fromarray(x).save(tmp_path / "a.png")
  Image.fromarray(np.repeat(x[..., None], 3, -1)).save(tmp_path / "b.png")
  Image.fromarray(x.astype(np.uint16) * 257).save(tmp_path / "c.png")
  ims = load_images(str(tmp_path), ["a.png", "b.png", "c.png"])
  np.testing.assert_allclose(ims[0], ims[1], atol=0)
  np.testing.assert_allclose(ims[0], ims[2], atol=1e-7)
