"""Per-photo affine colour: the exposure and white balance that change from photo to photo.

The field holds one appearance; training photo i sees it through its own affine map in linear
light, c_i = (I + A_i) c + b_i, codes[i] = [A_i | b_i] (3, 4). The codes are centred (their mean
over the photos is removed before use), so the field keeps the photos' average look and every
render, of a training view or a new one, shows it with the identity map.
"""
import jax.numpy as jnp


def init_codes(num_views):
  """(num_views, 3, 4) zeros: every photo starts with the identity map."""
  return jnp.zeros((num_views, 3, 4), jnp.float32)


def centred(codes):
  """codes (N, 3, 4) less their mean over the photos."""
  return codes - jnp.mean(codes, axis=0, keepdims=True)


def apply(codes, cam, rgb):
  """Linear colours as photo cam took them.

  Args:
    codes: (N, 3, 4) per-photo codes; cam: integer array, batch shape B' that broadcasts against
      rgb's leading axes (e.g. (n,) for rgb (n, 3), (n, 1, 1) for patches (n, S, S, 3)).
    rgb: B + (3,) linear colour rendered by the field.
  Returns:
    B + (3,).
  """
  a = centred(codes)[cam]
  return rgb + jnp.sum(a[..., :3] * rgb[..., None, :], axis=-1) + a[..., 3]


def as_photographed(params, cam, rgb):
  """rgb through photo cam's code when the run learns them (params["appearance"]), else as is."""
  if "appearance" not in params:
    return rgb
  return apply(params["appearance"], cam, rgb)
