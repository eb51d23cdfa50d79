"""Proposal samples and final samples per ray."""
from macro_nerf.sweep import product, zipped


def get_sweep():
  return product({"model.prop_samples": [(32,), (64,), (128,)],
                  "model.nerf_samples": [32]}) + zipped({"model.prop_samples": [(64,)],
                                                         "model.nerf_samples": [64]})
