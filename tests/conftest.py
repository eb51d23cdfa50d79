"""Shared test helpers: the development scenes live in ../shared/scenes beside the checkout."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENES = os.path.join(os.path.dirname(REPO), "shared", "scenes")


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory):
  """A 9-view 24x18 generated thin-lens scene, shared read-only by the training tests."""
  from macro_nerf import synthetic
  path = str(tmp_path_factory.mktemp("scene") / "s")
  synthetic.render_scene(path, num_views=9, width=24, height=18, lens_samples=4, progress=False)
  return path
