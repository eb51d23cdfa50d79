"""Preset: forward-facing shots of objects on a flat support, for meshes (tuned on pebbles).

configs/llff.py (support-plane prior included) with a longer run, the scene-box grid, no colour
codes and absolute focus weights; docs/results.md has the figures.
"""
from macro_nerf.config_files import load


def get_config():
  c = load("llff")
  c.train.max_steps = 6000  # the objects' sides and backs keep improving to here
  # The mesh figures were measured with the scene-box grid, no colour codes, absolute 1 px weights.
  c.model.warp, c.model.appearance, c.defocus.focus_weight_relative = "box", False, False
  return c
