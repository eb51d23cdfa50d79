"""The loss of every kind of training step, assembled in one place.

loss = data term + interlevel_weight x interlevel + distortion_weight x distortion + penalties

- ray:       mean squared error of single sharp rays (sRGB), + the depth-smoothness and
             support-plane priors;
- focus_ray: the same, weighted towards pixels each photo has in focus, + the same priors;
- patch:     patches rendered sharp, blurred by each photo's lens, against the photo, + the L2
             penalty on the blur radius' learned residual.
The proposal losses (interlevel, distortion) train the sampler on every kind.
"""
import jax
import jax.numpy as jnp

from macro_nerf.defocus import losses as defocus_losses
from macro_nerf.image_utils import linear_to_srgb
from macro_nerf.nerf import appearance, pose_refine, render
from macro_nerf.nerf.model import model_params, proposal_losses
from macro_nerf.priors import depth_smooth, support_plane


def ray_term(model):
  """term(params, key, data, batch) of random pixels, each rendered as one sharp ray."""

  def term(params, key, data, batch):
    rays = render.rays_for_pixels(data, batch["cam"], batch["px"].astype(jnp.float32),
                                  batch["py"].astype(jnp.float32))
    out = model.apply({"params": model_params(params)}, key, rays, train=True)
    rgb = appearance.as_photographed(params, batch["cam"], out["rgb"])
    mse = jnp.mean((linear_to_srgb(rgb) - batch["target"]) ** 2)
    return {"mse": mse, "levels": out["levels"], "out": out, "rays": rays, "penalties": [],
            "stats": {}}

  return term


def ray_priors(model, config):
  """The priors of ray steps: prior(params, key, data, batch, term) -> (loss, stats)."""
  return [
      lambda params, key, data, batch, term: depth_smooth.loss(
          model, model_params(params), key, data, batch, config),
      lambda params, key, data, batch, term: support_plane.loss(
          term["out"], term["rays"], data, config),
  ]


def make_loss(kind, model, config, residual=None, image_size=None):
  """loss_fn(params, key, data, batch) -> (loss, stats) of one kind of step (schedule.py).

  With defocus.patch_rays a patch step's batch is {"patch", "ray"}: the lens fits the patches while
  the field takes a focus-ray step on the rays, so that no step leaves the field untrained.
  """
  if kind == "patch" and config.defocus.get("patch_rays", False):
    patch_loss = _single_loss("patch", model, config, residual, image_size)
    ray_loss = _single_loss("focus_ray", model, config, image_size=image_size)

    def loss_fn(params, key, data, batch):
      k_patch, k_ray = jax.random.split(key)
      lp, sp = patch_loss(params, k_patch, data, batch["patch"])
      lr, sr = ray_loss(params, k_ray, data, batch["ray"])
      # The ray part's mse/psnr/proposal stats, the patch part's own (lens, radius) stats.
      stats = {**sr, **{k: v for k, v in sp.items() if k not in sr}}
      return lp + lr, {**stats, "patch_mse": sp["mse"], "loss": lp + lr}

    return loss_fn
  return _single_loss(kind, model, config, residual, image_size)


def _single_loss(kind, model, config, residual=None, image_size=None):
  t = config.train
  if kind == "ray":
    term_fn, priors = ray_term(model), ray_priors(model, config)
  elif kind == "focus_ray":
    term_fn, priors = defocus_losses.focus_ray_term(model, config, image_size), ray_priors(model, config)
  elif kind == "patch":
    term_fn, priors = defocus_losses.patch_term(model, residual, config, image_size), []
  else:
    raise ValueError(f"unknown step kind {kind!r}")

  def loss_fn(params, key, data, batch):
    data = pose_refine.refined_data(params, data)  # training photos at their learned poses
    term = term_fn(params, key, data, batch)
    inter, dist = proposal_losses(term["levels"])
    loss = term["mse"] + t.interlevel_weight * inter + t.distortion_weight * dist
    for penalty in term["penalties"]:
      loss = loss + penalty
    stats = dict(term["stats"])
    for prior in priors:
      value, prior_stats = prior(params, key, data, batch, term)
      loss = loss + value
      stats.update(prior_stats)
    return loss, {"loss": loss, "mse": term["mse"], "psnr": -10.0 * jnp.log10(term["mse"]),
                  "interlevel": inter, "distortion": dist, **stats}

  return loss_fn
