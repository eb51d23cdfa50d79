"""Defaults shared by every config; the others override what differs."""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.path = ""
  c.data.image_dir = "images"
  c.data.factor = 1
  c.data.llffhold = 8
  c.data.eval_sharp_dir = ""  # optional sharp versions of the training images, for scoring only
  c.data.box_padding = 0.02

  c.model = ml_collections.ConfigDict()
  c.model.prop_samples = (64,)
  c.model.nerf_samples = 32
  c.model.disparity = True  # sample linearly in 1/z (forward-facing) or in z (objects)
  c.model.prop_log2_table_size = 14
  c.model.prop_max_resolution = 256
  c.model.num_levels = 16
  c.model.log2_table_size = 16
  c.model.max_resolution = 2048
  c.model.width = 64
  c.model.background = (0.0, 0.0, 0.0)

  c.defocus = ml_collections.ConfigDict()
  c.defocus.enabled = False

  c.train = ml_collections.ConfigDict()
  c.train.max_steps = 3000
  c.train.batch_size = 2048  # supervised rays per step
  c.train.lr_init = 1e-2
  c.train.lr_final = 3e-4
  c.train.warmup_steps = 100
  c.train.grad_clip = 1.0
  c.train.interlevel_weight = 1.0
  c.train.distortion_weight = 2e-3
  c.train.log_every = 100
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 2

  c.eval = ml_collections.ConfigDict()
  c.eval.chunk = 4096  # rays per jit call
  return c
