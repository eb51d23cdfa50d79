"""Shared test helpers: the development scenes live in ../shared/scenes beside the checkout."""
import atexit
import os
import shutil
import tempfile

import pytest

# One persistent XLA compilation cache for the session, inherited by every subprocess the tests
# start (CLI runs, kills and resumes, multi-device workers): a second run of the same program
# loads its executables instead of compiling them again (the SIGKILL-and-resume test: 146 s ->
# 89 s on 2 busy cores).
# Set before JAX is imported anywhere; a user's own cache setting is left alone.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache = tempfile.mkdtemp(prefix="macro_nerf_test_xla_cache_")
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENES = os.path.join(os.path.dirname(REPO), "shared", "scenes")


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory):
  """A 9-view 24x18 generated thin-lens scene, shared read-only by the training tests."""
  from macro_nerf import synthetic
  path = str(tmp_path_factory.mktemp("scene") / "s")
  synthetic.render_scene(path, num_views=9, width=24, height=18, lens_samples=4, progress=False)
  return path
