"""Per-photo pose corrections learned in training (COLMAP poses of real captures are a little off).

Photo i's correction delta_i = (omega, t) (6,) acts in its own camera frame,
c2w_i' = c2w_i [R(omega) | t], R the axis-angle rotation. The corrections are centred (their mean
over the photos is removed, as for the appearance codes), so the training cameras cannot drift
as a whole away from the held-out ones, whose poses stay as given.
"""
import dataclasses

import jax.numpy as jnp
import numpy as np


def init_deltas(num_views):
  """(num_views, 6) zeros: every photo starts at its given pose."""
  return jnp.zeros((num_views, 6), jnp.float32)


def centred(deltas):
  """deltas (N, 6) less their mean over the photos."""
  return deltas - deltas.mean(axis=0, keepdims=True)


def rotation(omega, xnp=jnp):
  """Axis-angle vectors (..., 3) -> rotation matrices (..., 3, 3) (Rodrigues), smooth at 0."""
  x, y, z = omega[..., 0], omega[..., 1], omega[..., 2]
  zero = xnp.zeros_like(x)
  k = xnp.stack([xnp.stack([zero, -z, y], -1), xnp.stack([z, zero, -x], -1),
                 xnp.stack([-y, x, zero], -1)], -2)
  theta2 = x * x + y * y + z * z
  small = theta2 < 1e-8
  safe2 = xnp.where(small, 1.0, theta2)
  theta = xnp.sqrt(safe2)
  a = xnp.where(small, 1.0 - theta2 / 6.0, xnp.sin(theta) / theta)  # sin(th) / th
  b = xnp.where(small, 0.5 - theta2 / 24.0, (1.0 - xnp.cos(theta)) / safe2)  # (1 - cos) / th^2
  eye = xnp.broadcast_to(xnp.eye(3, dtype=k.dtype), k.shape)
  return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def apply(c2w, deltas, xnp=jnp):
  """c2w (N, 3, 4) corrected by deltas (N, 6) in each camera's frame -> (N, 3, 4)."""
  rot = c2w[..., :3, :3]
  new_rot = rot @ rotation(deltas[..., :3], xnp)
  new_pos = c2w[..., :3, 3] + xnp.einsum("nij,nj->ni", rot, deltas[..., 3:])
  return xnp.concatenate([new_rot, new_pos[..., None]], axis=-1)


def refined_data(params, data):
  """The training cameras `data` with the run's learned corrections (params["pose"]), if any."""
  if "pose" not in params:
    return data
  return {**data, "c2w": apply(data["c2w"], centred(params["pose"]))}


def refined_scene(scene, deltas):
  """The scene with its training photos at their learned poses, deltas (N_train, 6) as trained
  (renders of training views then line up with the photos); the held-out views keep theirs."""
  c2w = np.array(scene.c2w, np.float64)
  c2w[scene.train_idx] = apply(c2w[scene.train_idx],
                               centred(np.asarray(deltas, np.float64)), xnp=np)
  return dataclasses.replace(scene, c2w=c2w.astype(np.float32))
