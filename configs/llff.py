"""Forward-facing captures (LLFF / Deblur-NeRF folders)."""
from configs import base


def get_config():
  c = base.get_config()
  c.model.disparity = True
  return c
