"""Hash table size (log2 entries per level): quality against the per-step table cost."""
from macro_nerf.sweep import product


def get_sweep():
  return product({"model.log2_table_size": [14, 16, 18, 19]})
