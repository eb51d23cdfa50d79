"""Forward-facing captures (LLFF / Deblur-NeRF folders)."""
from configs import base


def get_config():
  c = base.get_config()
  c.model.disparity = True
  # Disparity smoothness (regularizers.py): 3000-step defocus runs, meshes with the ground cut at
  # z = 0.05: pebbles Chamfer 3.8 % -> 2.3 %, F 0.33 -> 0.49; garden 0.69 %, F 0.86 (-0.05 dB on
  # pebbles, +0.4 on garden).
  c.train.depth_smooth_weight = 0.05
  # Support-plane prior (support_plane.py), steps 1000-2000: blur leaves the far ground of a
  # forward-facing shot untextured and the field stands it up as a backdrop; this lays it back on
  # the support. Pebbles: Chamfer 2.12 % -> 1.26 %, F 0.58 -> 0.67, PSNR +0.2 dB.
  c.train.support_plane_weight = 0.002
  # Pebbles mesh (export defaults, ground cut at z = 0.05), PSNR held out / deblurred train: 3000
  # steps 1.12 % / F 0.70, 23.8 / 24.2; 4500 steps 0.91 % / 0.72, 23.8 / 24.3; 6000 steps
  # 0.81 % / 0.75, 23.9 / 24.3. About 35 min on a 2-core CPU; fewer steps for a quick look.
  c.train.max_steps = 6000
  return c
