"""The built-in demo: a tiny synthetic defocus scene, a few minutes on a laptop CPU."""
from macro_nerf.config_files import base_config


def get_config():
  c = base_config()
  c.model.disparity = False
  c.model.log2_table_size = 15
  c.model.max_resolution = 512
  c.defocus.enabled = True
  c.defocus.patch_size = 32  # 80x60 images: one 32x32 patch (+ margin) per step
  c.defocus.margin = 6  # the synthetic lens blurs up to 5 px
  c.defocus.warmup_steps = 200
  c.defocus.init_radius_px = 5.0  # within the margin
  c.defocus.patch_every = 1  # patch steps only, training the field through the blur: the demo's
  c.defocus.patch_field_grad = True  # scene is small enough to afford them
  c.train.max_steps = 1000
  c.train.batch_size = 1024
  c.train.checkpoint_every = 500
  return c
