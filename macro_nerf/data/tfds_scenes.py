"""Scene folders packed into a TFDS dataset, `macro_nerf_scenes`, and read back (the [tfds] extra).

  python -m macro_nerf.tools.tfds_pack SCENE [SCENE ...] --data_dir=DIR
  python -m macro_nerf.train ... --config.data.path=tfds:SPLIT --config.data.tfds_data_dir=DIR

One split per scene folder (its basename, lower-cased, runs of other characters than [a-z0-9_] made
`_`), one example per view, in the order the folder loader reads them (`data.read_folder`, whose
readers the packer uses, so the packed scene is what the folder loader sees at factor 1: photos
upright as their EXIF orientation says, 16-bit ones rounded to 8 bits):

  image       PNG (lossless), uint8 RGB as stored
  name        source file name
  c2w         (3, 4) float32, OpenGL camera-to-world, input world units (not normalised)
  intrinsics  (4,) float32: fx, fy, cx, cy in pixels
  near, far   float32 z-depths, world units
  index       int32: the view's position in the scene (index % llffhold == 0: held out)

Stored as array_record under DIR/macro_nerf_scenes/1.0.0, so
`tfds.builder_from_directory(...).as_data_source(split)` (or `tfds.data_source("macro_nerf_scenes",
split=..., data_dir=DIR)`) reads it with random access and no tf.data (`tfds.load` / `as_dataset`
do not read array_record). Packing encodes PNG with Pillow and reading decodes with Pillow:
neither imports TensorFlow.
"""
import contextlib
import io
import os
import re
import shutil

import numpy as np
from PIL import Image

from macro_nerf.data.folders import read_folder
from macro_nerf.data.images import make_dir
from macro_nerf.data.validation import check_cameras
from macro_nerf.errors import DataError

TFDS_PREFIX = "tfds:"  # data.path = "tfds:SPLIT": a scene packed by tools/tfds_pack.py

NAME = "macro_nerf_scenes"
VERSION = "1.0.0"
FILE_FORMAT = "array_record"


def import_tfds():
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError(f"tensorflow-datasets is not installed ({e}): "
                    "pip install 'macro_nerf[tfds]'") from None
  return tfds


def default_data_dir():
  return str(import_tfds().core.constants.DATA_DIR)


def split_name(path):
  """The split a scene folder packs into: its basename, sanitised to [a-z0-9_]."""
  base = os.path.basename(os.path.normpath(os.path.abspath(path)))
  return re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_")


def features(tfds):
  return tfds.features.FeaturesDict({
      "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
      "name": tfds.features.Text(),
      "c2w": tfds.features.Tensor(shape=(3, 4), dtype=np.float32),
      "intrinsics": tfds.features.Tensor(shape=(4,), dtype=np.float32),
      "near": tfds.features.Scalar(dtype=np.float32),
      "far": tfds.features.Scalar(dtype=np.float32),
      "index": tfds.features.Scalar(dtype=np.int32),
  })


def _png(image_u8):
  buf = io.BytesIO()
  Image.fromarray(image_u8).save(buf, format="PNG")
  buf.seek(0)
  return buf


def scene_examples(path, image_dir="images"):
  """(key, example) per view of a scene folder, read by data.read_folder at factor 1."""
  images, c2w, intr, near, far, names = read_folder(path, image_dir, 1)
  check_cameras(path, c2w, np.asarray(intr)[:, :2], near, far, names)  # as load_scene
  for i, name in enumerate(names):
    # The folder loader's floats of 8-bit photos are uint8 / 255: rounding recovers the stored
    # bytes exactly (16-bit photos are rounded to the nearest 8-bit value).
    image = np.round(images[i] * 255.0).astype(np.uint8)
    yield i, {"image": _png(image), "name": name, "c2w": np.asarray(c2w[i], np.float32),
              "intrinsics": np.asarray(intr[i], np.float32), "near": np.float32(near[i]),
              "far": np.float32(far[i]), "index": np.int32(i)}


_BUILDER = None


def builder_class():
  """The `macro_nerf_scenes` GeneratorBasedBuilder (made on first use: TFDS is imported lazily)."""
  global _BUILDER
  if _BUILDER is not None:
    return _BUILDER
  tfds = import_tfds()

  class MacroNerfScenes(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Scene folders as one dataset: a split per scene, an example per view (module docstring)."""
    VERSION = tfds.core.Version(VERSION)
    RELEASE_NOTES = {str(VERSION): "First layout: image, name, c2w, intrinsics, near, far, index."}
    # No download checksums to find beside the code; TFDS's lookup of them can need the
    # importlib_resources backport, which it does not declare.
    code_path = None

    def __init__(self, *, scenes=None, image_dir="images", **kwargs):
      self._scenes = dict(scenes or {})  # split name -> scene folder
      self._image_dir = image_dir
      super().__init__(**kwargs)

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, features=features(tfds),
          description="Defocus-blurred multi-view captures for macro_nerf: one split per scene "
                      "folder, one example per view (c2w OpenGL, world units; intrinsics in pixels).",
          metadata=tfds.core.MetadataDict(
              sources={k: os.path.abspath(v) for k, v in self._scenes.items()},
              image_dir=self._image_dir))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {split: self._generate_examples(path) for split, path in self._scenes.items()}

    def _generate_examples(self, path):
      yield from scene_examples(path, self._image_dir)

  MacroNerfScenes.__module__ = __name__
  MacroNerfScenes.__qualname__ = "MacroNerfScenes"
  _BUILDER = MacroNerfScenes
  return _BUILDER


def __getattr__(name):  # `from macro_nerf.data.tfds_scenes import MacroNerfScenes`, made lazily
  if name == "MacroNerfScenes":
    return builder_class()
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dataset_dir(data_dir):
  return os.path.join(data_dir, NAME, VERSION)


def pack(scenes, data_dir="", image_dir="images", overwrite=False):
  """Packs scene folders into DATA_DIR/macro_nerf_scenes/1.0.0; returns {split: (views, w, h)}.

  Built in a temporary folder inside data_dir and moved into place at the end: a failure leaves
  data_dir as it was. An existing dataset is refused unless `overwrite` (it is then replaced whole).
  """
  import_tfds()  # without the extra: the one-line error, before anything is written
  if not scenes:
    raise DataError("no scene folders to pack")
  splits = {}
  for path in scenes:
    if not os.path.isdir(path):
      raise DataError(f"{path}: scene folder does not exist")
    split = split_name(path)
    if not split:
      raise DataError(f"{path}: no split name can be made from the folder name (need [a-z0-9_])")
    if split == "all":
      raise DataError(f"{path}: split name 'all' is reserved by TFDS; rename the folder")
    if split in splits:
      raise DataError(f"{path}: split {split!r} is also made from {splits[split]}; rename one")
    splits[split] = path
  data_dir = data_dir or default_data_dir()
  dest = dataset_dir(data_dir)
  if os.path.exists(dest) and not overwrite:
    raise DataError(f"{dest}: a packed dataset is already there (splits: {_list_splits(dest)}); "
                    "pass --overwrite to replace it")
  made = [d for d in (data_dir, os.path.join(data_dir, NAME)) if not os.path.isdir(d)]
  os.makedirs(data_dir, exist_ok=True)
  tmp = make_dir(data_dir, ".tmp_tfds_pack_")
  try:
    builder = builder_class()(scenes=splits, image_dir=image_dir, data_dir=tmp,
                              file_format=FILE_FORMAT)
    with contextlib.redirect_stdout(io.StringIO()):  # TFDS prints the temporary folder
      builder.download_and_prepare()
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    old = None
    if os.path.exists(dest):  # overwrite: swap, then drop the old one
      old = os.path.join(tmp, "old")
      os.rename(dest, old)
    try:
      os.rename(dataset_dir(tmp), dest)
    except OSError:
      if old:
        os.rename(old, dest)
      raise
    info = builder.info
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    for d in reversed(made):
      try:
        os.rmdir(d)  # only when still empty
      except OSError:
        pass
    raise
  shutil.rmtree(tmp, ignore_errors=True)
  return {s: int(info.splits[s].num_examples) for s in splits}


def _list_splits(dest):
  try:
    return ", ".join(sorted(import_tfds().builder_from_directory(dest).info.splits)) or "none"
  except Exception:  # pylint: disable=broad-except  # unreadable: only for a message
    return "unreadable"


def read_split(split, data_dir=""):
  """A packed scene: uint8 images (N, H, W, 3), c2w, intrinsics, near, far, names (world units)."""
  tfds = import_tfds()
  data_dir = data_dir or default_data_dir()
  dest = dataset_dir(data_dir)
  if not os.path.isfile(os.path.join(dest, "dataset_info.json")):
    raise DataError(f"{data_dir}: no packed {NAME} dataset there (split {split!r} requested; "
                    "available splits: none); pack scenes with macro-nerf-tfds-pack")
  try:
    builder = tfds.builder_from_directory(dest)
    available = sorted(builder.info.splits)
    if split not in available:
      raise DataError(f"{data_dir}: split {split!r} not in {NAME} (available splits: "
                      f"{', '.join(available) or 'none'})")
    source = builder.as_data_source(split)
    examples = [source[i] for i in range(len(source))]
  except DataError:
    raise
  except Exception as e:  # pylint: disable=broad-except  # TFDS / array_record errors vary
    msg = " ".join(str(e).split())
    raise DataError(f"{dest}: cannot read split {split!r} ({type(e).__name__}: {msg})") from None
  examples.sort(key=lambda e: int(e["index"]))
  if [int(e["index"]) for e in examples] != list(range(len(examples))) or not examples:
    raise DataError(f"{dest}: split {split!r} has missing or repeated view indices")
  images = np.stack([np.asarray(e["image"], np.uint8) for e in examples])
  c2w = np.stack([np.asarray(e["c2w"], np.float64) for e in examples])
  intr = np.stack([np.asarray(e["intrinsics"], np.float64) for e in examples])
  near = np.array([np.float32(e["near"]) for e in examples], np.float64)
  far = np.array([np.float32(e["far"]) for e in examples], np.float64)
  names = [e["name"].decode() if isinstance(e["name"], bytes) else str(e["name"]) for e in examples]
  return images, c2w, intr, near, far, names


def downsample(images, intr, factor):
  """Like the folder loader's `images_{factor}`: Pillow box filter to (w // f, h // f)."""
  h, w = images.shape[1:3]
  w2, h2 = w // factor, h // factor
  if w2 < 1 or h2 < 1:
    raise DataError(f"data.factor={factor} is larger than the {w}x{h} images")
  small = np.stack([np.asarray(Image.fromarray(im).resize((w2, h2), Image.BOX)) for im in images])
  return small, intr * np.array([w2 / w, h2 / h, w2 / w, h2 / h])


def load_split(data_config):
  """data.load_scene's hook for data.path = "tfds:SPLIT": (images, c2w, intr, near, far, names)."""
  d = data_config
  split = d.path[len(TFDS_PREFIX):]
  if d.get("eval_sharp_dir"):
    raise DataError(f"{d.path}: data.eval_sharp_dir is not supported for packed TFDS scenes "
                    "(sharp images are not packed); train from the scene folder to score them")
  images, c2w, intr, near, far, names = read_split(split, d.get("tfds_data_dir", ""))
  if d.factor > 1:
    images, intr = downsample(images, intr, d.factor)
  # As data.load_image: float32 bytes / 255.
  return images.astype(np.float32) / 255.0, c2w, intr, near, far, names
