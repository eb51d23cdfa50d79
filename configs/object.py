"""Captures all around an object (turntable, orbit): samples linear in depth."""
from macro_nerf.config_files import base_config


def get_config():
  c = base_config()
  c.model.disparity = False
  c.prior.depth_smooth.weight = 0.05  # blurred far backgrounds continue the ground smoothly
  # As in llff: a ray's weight falls with the blur beyond the sharpest photo's at its point.
  c.defocus.focus_weight_relative = True
  c.defocus.focus_weight_radius = 1.0  # relative blur costs sharp photos nothing, so 1 px, not 3
  return c
