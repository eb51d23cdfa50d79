"""Forward-facing captures (LLFF / Deblur-NeRF folders)."""
from configs import base


def get_config():
  c = base.get_config()
  c.model.disparity = True
  # Disparity smoothness (regularizers.py): 3000-step defocus runs, meshes with the ground cut at
  # z = 0.05: pebbles Chamfer 3.8 % -> 2.3 %, F 0.33 -> 0.49; garden 0.69 %, F 0.86 (-0.05 dB on
  # pebbles, +0.4 on garden).
  c.train.depth_smooth_weight = 0.05
  return c
