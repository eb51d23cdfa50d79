"""Forward-facing captures (LLFF / Deblur-NeRF folders): samples linear in disparity."""
from macro_nerf.config_files import base_config


def get_config():
  c = base_config()
  c.model.disparity = True
  c.prior.depth_smooth.weight = 0.05  # blurred far backgrounds continue the ground smoothly
  c.prior.depth_smooth.patches = 2  # a few a step suffice; each costs as much as 64 photo rays
  # Lays an untextured far ground that blur stood up as a backdrop back on the objects' support;
  # off by itself where under 20 % of the rendered points lie on one plane (fern: 15 %).
  c.prior.support_plane.weight = 0.002
  c.model.warp = "ndc"  # the grid in the mean view's NDC: a distant background costs no resolution
  c.model.ndc_fit_views = True  # side views of a wide capture are not clipped at the grid's faces
  c.model.log2_table_size = 18  # a screen-sized grid over the whole view collides in 2^16 entries
  c.model.appearance = True  # photos of one capture differ in exposure and white balance
  return c
