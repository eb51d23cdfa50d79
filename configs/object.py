"""Captures all around an object (turntable, orbit): samples linear in depth."""
from configs import base


def get_config():
  c = base.get_config()
  c.model.disparity = False
  return c
