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
  c.model.features = 2  # per level and table entry
  c.model.log2_table_size = 16
  c.model.max_resolution = 2048
  c.model.width = 64
  c.model.background = (0.0, 0.0, 0.0)  # renders; training uses a random one (next line)
  c.model.random_background = True  # False: train over `background` (lets fog pass as surface)
  c.model.view_dependent = True  # SH of the view direction in the colour MLP
  c.model.warp = "box"  # where the hash grid lies: "box" (the scene box) or "ndc" (forward-facing)
  c.model.ndc_fit_views = False  # ndc: screen axes hold every training view's frustum (else +30 %)
  c.model.appearance = False  # per-photo affine colour (exposure, white balance) in training

  # Learned thin-lens blur (docs/design.md). False: the naive baseline, the same field trained as
  # if the photos were sharp.
  c.defocus = ml_collections.ConfigDict()
  c.defocus.enabled = True
  c.defocus.patch_size = 32  # observed pixels per patch side; train.batch_size / P^2 patches
  c.defocus.margin = 8  # rendered around each patch; radii above margin - softness/2 are clipped
  c.defocus.softness = 1.0  # width of the disk's edge ramp, pixels
  c.defocus.normalize = True  # divide by the weight each pixel receives (flat stays flat)
  # Plain ray steps first; then focus := median rendered depth. A lens fitted to a field that is
  # still far from converged takes its errors for blur (docs/experiments.md).
  c.defocus.warmup_steps = 300
  c.defocus.warmup_fraction = 0.5  # at most this fraction of train.max_steps
  # After the warm-up every k-th step is a patch step, the others focus-weighted ray steps (a
  # point takes its colour from the photos that have it in focus); 0: focus rays only; 1: patches.
  c.defocus.patch_every = 4
  c.defocus.focus_weight_radius = 1.0  # pixels: ray weight 1 / (1 + (r / this)^power)
  c.defocus.focus_weight_power = 4.0  # higher: blurred views give way more completely
  c.defocus.focus_weight_floor = 0.0  # least weight of a ray: what no photo has sharp still trains
  # r counts from the sharpest photo's radius at the point: blurred stacks give way to their sharp
  # photos, a background no photo has sharp learns from its least blurred, sharp photos lose nothing.
  c.defocus.focus_weight_relative = True
  c.defocus.patch_rays = True  # patch steps also take a focus-ray step: every step trains the field
  c.defocus.patch_field_grad = False  # False: patch steps fit only lens and residual (~3x cheaper)
  c.defocus.blur_ramp_steps = 0  # >0: the blur grows from 0 over this many patch steps (lens fixed)
  # Initial kappa: this CoC at the ends of each view's depth range; over-estimate, since training
  # shrinks too much blur readily but not too little (the field compensates).
  c.defocus.init_radius_px = 8.0
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
  c.train.log_every = 100
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 2
  c.train.max_bad_steps = 20  # consecutive NaN/Inf steps (each skipped) before the run stops
  c.train.pose_refine = False  # per-photo pose corrections; off: they drift past COLMAP's own errors
  c.train.pose_lr_init = 1e-3  # Adam on (axis-angle, translation in normalised scene units)
  c.train.pose_lr_final = 1e-5

  # Priors on the field where the photos leave it open (macro_nerf/priors/); weight 0 is off.
  c.prior = ml_collections.ConfigDict()
  # Second-order disparity smoothness on small rendered patches of the ray steps: blur leaves
  # backgrounds without texture, and nothing else fixes their depth.
  c.prior.depth_smooth = ml_collections.ConfigDict()
  c.prior.depth_smooth.weight = 0.0
  c.prior.depth_smooth.patches = 8  # per device and step
  c.prior.depth_smooth.size = 8  # pixels per patch side
  # Support plane: penalises ray weight above the plane RANSAC finds in the rendered depth, so an
  # untextured far ground lies on the support instead of standing up as a backdrop.
  c.prior.support_plane = ml_collections.ConfigDict()
  c.prior.support_plane.weight = 0.0
  c.prior.support_plane.start = 1000  # the first fit follows this step (the backdrop has formed)
  c.prior.support_plane.margin = 0.005  # normalised scene units above the plane that cost nothing
  c.prior.support_plane.ramp = 0.01  # the penalty grows to full over this height
  c.prior.support_plane.refit_every = 0  # refit the plane every N steps after the first (0: never)
  c.prior.support_plane.stop = 2000  # the prior's last step (0: to the end)
  c.prior.support_plane.min_fraction = 0.2  # no prior unless this share of points is on the plane

  c.eval = ml_collections.ConfigDict()
  c.eval.chunk = 2048  # rays per jit call: fits CPU caches; raise it on a GPU
  return c
