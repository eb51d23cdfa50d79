"""Captures all around an object (turntable, orbit): samples linear in depth."""
from macro_nerf.config_files import base_config


def get_config():
  c = base_config()
  c.model.disparity = False
  c.prior.depth_smooth.weight = 0.05  # blurred far backgrounds continue the ground smoothly
  return c
