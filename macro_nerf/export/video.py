"""MP4s of rendered frames, when the `video` extra (imageio, imageio-ffmpeg) is installed."""
import importlib.util
import os

import numpy as np


def can_write_video():
  return all(importlib.util.find_spec(m) is not None for m in ("imageio", "imageio_ffmpeg"))


def write_video(path, frames, fps):
  """uint8 frames (H, W, 3) -> H.264 MP4 (edges repeated to even sizes), written then renamed."""
  import imageio.v2 as imageio
  tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp.mp4")
  try:
    with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=8, macro_block_size=1,
                            pixelformat="yuv420p") as w:
      for f in frames:
        h, wd = f.shape[:2]
        w.append_data(np.pad(f, ((0, h % 2), (0, wd % 2), (0, 0)), mode="edge"))
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path
