"""The built-in demo (macro_nerf/demo.py): a synthetic macro focus bracket of 7 photos at 120x90,
about 2.5 minutes on a 2-core CPU alone (scene, training, renders). Measured choices are in the
comments; everything else is configs/base.py, defocus included."""
from macro_nerf.config_files import base_config


def get_config():
  c = base_config()
  c.model.disparity = False
  c.model.log2_table_size = 15
  c.model.max_resolution = 512
  c.model.prop_samples = (32,)  # half the samples: twice the steps fit the budget
  c.model.nerf_samples = 16
  c.defocus.enabled = True
  c.defocus.patch_every = 4  # the base mix; every 2nd or field-training patches gained less
  c.defocus.focus_weight_relative = False  # absolute 1 px, as measured: every photo is blurred
  c.defocus.margin = 8  # the photos blur up to ~9.5 px; radii above 7.5 px are clipped
  c.defocus.warmup_steps = 150
  c.train.max_steps = 900  # at 600 one view came out worse than its photo
  c.train.batch_size = 1024
  c.train.checkpoint_every = 900
  return c
