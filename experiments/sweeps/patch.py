"""Patch size and margin of the defocus step: coverage of large blur vs rendering cost."""
from macro_nerf.sweep import product


def get_sweep():
  return product({"defocus.enabled": [True], "defocus.patch_size": [16, 32, 48],
                  "defocus.margin": [6, 8, 10]})
