"""Test session setup: a shared XLA compilation cache, a tiny generated scene and tiny runs on it."""
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

import numpy as np  # noqa: E402  (after the cache setting)

from helpers import defocus_config, tiny_config  # noqa: E402
from macro_nerf.export import mesh as mesh_lib  # noqa: E402
from macro_nerf.nerf import render  # noqa: E402
from macro_nerf.nerf.model import model_params  # noqa: E402
from macro_nerf.scenes import synthetic  # noqa: E402
from macro_nerf.training.loop import train  # noqa: E402


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory):
  """A 9-view 24x18 generated thin-lens scene, shared read-only by the training tests."""
  path = str(tmp_path_factory.mktemp("scene") / "s")
  synthetic.render_scene(path, num_views=9, width=24, height=18, lens_samples=4, progress=False)
  return path


@pytest.fixture(scope="session")
def tiny_run(tiny_scene, tmp_path_factory):
  """A 3-step run, and a density level its field crosses (the median over the seen box)."""
  wd = str(tmp_path_factory.mktemp("mesh_run") / "wd")
  scene, model, state, _ = train(tiny_config(tiny_scene), wd, progress=False)
  cams = (scene.c2w, scene.intrinsics, scene.height, scene.width, scene.near, scene.far)
  grid = mesh_lib.make_grid(*mesh_lib.frustum_box(*cams), 16)
  pts = mesh_lib.grid_points(grid, 0, grid.size)
  pts = pts[mesh_lib.in_view(pts, *cams).any(1)]
  d = render.query_points(render.make_query_fn(model), model_params(state.params), pts,
                          4096)["density"]
  return wd, float(np.median(d))


@pytest.fixture(scope="session")
def tiny_defocus_run(tiny_scene, tmp_path_factory):
  """A 4-step defocus run (1 ray step, then patch steps) and its training summary and state."""
  wd = str(tmp_path_factory.mktemp("defocus_run") / "wd")
  _, _, state, summary = train(defocus_config(tiny_scene), wd, progress=False)
  return wd, summary, state


@pytest.fixture
def defocus_run_copy(tiny_defocus_run, tmp_path):
  """A copy of tiny_defocus_run's workdir that a test may resume, render into or change."""
  wd = str(tmp_path / "wd")
  shutil.copytree(tiny_defocus_run[0], wd)
  return wd
