"""Learned residual of the blur radius on/off (defocus on), and its L2 weight."""
from macro_nerf.sweep import product


def get_sweep():
  off = [{"defocus.enabled": True, "defocus.residual": False}]
  return off + product({"defocus.enabled": [True], "defocus.residual": [True],
                        "defocus.residual_weight": [1e-3, 1e-2, 1e-1]})
