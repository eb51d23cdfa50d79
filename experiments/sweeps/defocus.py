"""Defocus model on/off (the naive baseline) at the config's budget.

  python -m macro_nerf.sweep --config=configs/llff.py --sweep=experiments/sweeps/defocus.py \
      --workdir=ROOT --config.data.path=SCENE --config.data.eval_sharp_dir=images_sharp
"""
from macro_nerf.sweep import product


def get_sweep():
  return product({"defocus.enabled": [False, True]})
