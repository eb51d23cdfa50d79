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
  c.data.tfds_data_dir = ""  # data.path = "tfds:SPLIT" reads a packed scene from here ("": TFDS's)

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
  c.model.background = (0.0, 0.0, 0.0)  # renders; training uses a random one (next line)
  c.model.random_background = True  # False: train over `background` (lets fog pass as surface)
  c.model.view_dependent = True  # SH of the view direction in the colour MLP

  # Learned thin-lens blur (DESIGN.md, "Image formation"). False: the naive baseline, the same
  # field trained as if the photos were sharp.
  c.defocus = ml_collections.ConfigDict()
  c.defocus.enabled = False
  c.defocus.patch_size = 32  # observed pixels per patch side; train.batch_size / P^2 patches
  c.defocus.margin = 8  # rendered around each patch; radii above margin - softness/2 are clipped
  c.defocus.softness = 1.0  # width of the disk's edge ramp, pixels
  c.defocus.normalize = True  # divide by the weight each pixel receives (flat stays flat)
  c.defocus.warmup_steps = 300  # plain ray steps first; then focus := median rendered depth
  # After the warm-up every k-th step is a patch step, the others focus-weighted ray steps
  # (defocus_training.make_focus_ray_loss: a point takes its colour from the photos that have it
  # in focus); 0: focus-weighted rays only; 1: patch steps only. Pebbles, 3000 steps: k=4 with
  # lens-only patch steps is +1.8 dB over naive (pure patch training, earlier model: +0.1 dB);
  # k=4 with field-training patch steps and depth_grad: the same PSNR, 1.5x slower.
  c.defocus.patch_every = 4
  c.defocus.focus_weight_radius = 1.0  # pixels: ray weight 1 / (1 + (r / this)^power)
  c.defocus.focus_weight_power = 4.0  # higher: blurred views give way more completely
  c.defocus.patch_field_grad = False  # True: patch steps train the field too (through the blur);
  # False: they fit only the lens and residual, rendering forward-only (~3x cheaper)
  c.defocus.blur_ramp_steps = 0  # >0: the blur grows from 0 over this many patch steps (lens fixed)
  c.defocus.init_radius_px = 8.0  # initial kappa: this CoC at the ends of each view's depth range;
  # over-estimate: training shrinks too much blur readily, but not too little (field compensates)
  c.defocus.lens_init = ""  # "": focus at median depth; else a lens.json in the scene folder
  c.defocus.exif_prior = True  # with lens_init "": focus/aperture from the scene's exif.json if any
  c.defocus.learn_lens = True  # False keeps the initial lens (e.g. known from lens.json)
  c.defocus.lens_lr_init = 5e-3  # Adam on (focus_u, log kappa)
  c.defocus.lens_lr_final = 5e-4
  c.defocus.residual = True  # learned per-pixel radius correction (zero at start)
  c.defocus.residual_width = 32
  c.defocus.residual_embed = 4
  c.defocus.residual_weight = 1e-2  # L2 on the correction, pixels^2
  c.defocus.depth_grad = False  # let the blur loss move geometry through the radius
  c.defocus.margin_grad = False  # back-propagate through margin pixels too (costs ~2x)

  c.train = ml_collections.ConfigDict()
  c.train.max_steps = 3000
  c.train.batch_size = 2048  # supervised rays per step per device (global: x device count)
  c.train.lr_init = 1e-2
  c.train.lr_final = 3e-4
  c.train.warmup_steps = 100
  c.train.grad_clip = 1.0
  c.train.interlevel_weight = 1.0
  c.train.distortion_weight = 2e-3
  # Second-order disparity smoothness on small rendered patches of the training views (ray steps;
  # regularizers.py): fills in backgrounds that blur leaves without texture. 0 turns it off.
  c.train.depth_smooth_weight = 0.0
  c.train.depth_smooth_patches = 8  # per device and step
  c.train.depth_smooth_size = 8  # pixels per patch side
  # Support-plane prior (support_plane.py): from step support_plane_step to support_plane_stop,
  # weight x the ray weight above the plane the rendered depth finds (RANSAC), ramped from margin
  # to margin + ramp (normalised scene units; pebbles: 0.005 is 0.03 of the objects' 1.0 height).
  # 0 turns it off. Pebbles (3000 steps, defocus): margin 0.02 / ramp 0.05 lets the far ground
  # float 0.1 above the truth (1.88 %, F 0.58); 0.005 / 0.01: 1.29 %, F 0.63; stopping at 2000,
  # which gives the objects back the density the prior cost them: 1.26 %, F 0.67.
  c.train.support_plane_weight = 0.0
  c.train.support_plane_step = 1000  # at 300 (pebbles) the backdrop is still the largest plane
  c.train.support_plane_margin = 0.005
  c.train.support_plane_ramp = 0.01
  c.train.support_plane_refit_every = 0  # refit the plane every N steps after the first (0: never)
  c.train.support_plane_stop = 2000  # the prior's last step (0: to the end)
  # No prior unless this share of the rendered points lies on the plane (pebbles 33 %, garden 52 %).
  c.train.support_plane_min_fraction = 0.2
  c.train.log_every = 100
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 2
  c.train.max_bad_steps = 20  # consecutive NaN/Inf steps (each skipped) before the run stops

  c.eval = ml_collections.ConfigDict()
  c.eval.chunk = 4096  # rays per jit call
  return c
