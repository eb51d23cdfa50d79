"""Each step's batch, drawn on the host from (seed, step): the same on every process and on
resume, so a resumed or multi-host run sees the batches of an uninterrupted single-host one."""
import numpy as np

from macro_nerf import parallel
from macro_nerf.defocus.patches import patches_per_device, random_patches
from macro_nerf.priors import depth_smooth


def step_rng(seed, step):
  """The host random generator of one training step."""
  return np.random.default_rng([seed, step])


def random_pixels(rng, images, batch_size):
  """Uniformly random training pixels of images (N, H, W, 3): view, pixel and colour."""
  n, h, w = images.shape[:3]
  cam = rng.integers(0, n, batch_size)
  px = rng.integers(0, w, batch_size)
  py = rng.integers(0, h, batch_size)
  return {"cam": cam.astype(np.int32), "px": px.astype(np.int32), "py": py.astype(np.int32),
          "target": images[cam, py, px]}


class Batches:
  """batches(kind, step): the sharded global batch of a step of that kind (schedule.py)."""

  def __init__(self, config, images, schedule, mesh):
    self.config, self.images, self.schedule, self.mesh = config, images, schedule, mesh
    self.num_rays = config.train.batch_size * mesh.size
    self.num_patches = patches_per_device(config) * mesh.size

  def __call__(self, kind, step):
    rng = step_rng(self.config.seed, step)
    if kind != "patch":
      return parallel.shard_batch(self._rays(rng), self.mesh)
    b = random_patches(rng, self.images, self.num_patches, self.config.defocus.patch_size)
    scale = self.schedule.blur_scale(step)
    if scale is not None:
      b["blur_scale"] = np.full(self.num_patches, scale, np.float32)
    if self.config.defocus.get("patch_rays", False):  # the field's rays of a patch step
      b = {"patch": b, "ray": self._rays(rng)}
    return parallel.shard_batch(b, self.mesh)

  def _rays(self, rng):
    n, h, w = self.images.shape[:3]
    b = random_pixels(rng, self.images, self.num_rays)
    b.update(depth_smooth.step_batch(self.config, rng, n, h, w, self.mesh.size))
    return b
