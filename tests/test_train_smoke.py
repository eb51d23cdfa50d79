"""End to end on a tiny generated scene: train 3 steps, checkpoint, resume, evaluate."""
import json
import os

import numpy as np
import pytest

from configs import demo as demo_config
from macro_nerf import eval as eval_lib
from macro_nerf import synthetic, train


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("scene") / "s")
  synthetic.render_scene(path, num_views=9, width=24, height=18, lens_samples=4, progress=False)
  return path


def tiny_config(path):
  c = demo_config.get_config()
  c.data.path = path
  c.model.log2_table_size = 10
  c.model.prop_log2_table_size = 10
  c.model.num_levels = 4
  c.model.max_resolution = 64
  c.model.prop_samples = (16,)
  c.model.nerf_samples = 8
  c.train.batch_size = 64
  c.train.max_steps = 3
  c.train.checkpoint_every = 3
  c.train.log_every = 1
  c.eval.chunk = 128
  return c


def test_train_resume_eval(tiny_scene, tmp_path):
  wd = str(tmp_path / "wd")
  c = tiny_config(tiny_scene)
  _, _, state, summary = train.train(c, wd, progress=False)
  assert int(state.step) == 3 and summary["steps"] == 3
  assert os.path.isdir(os.path.join(wd, "checkpoints", "3"))
  assert all(np.all(np.isfinite(x)) for x in __import__("jax").tree.leaves(state.params))
  # Resume: only the missing steps run.
  c.train.max_steps = 5
  _, _, state, summary = train.train(c, wd, progress=False)
  assert int(state.step) == 5 and summary["steps"] == 2
  log = [json.loads(l) for l in open(os.path.join(wd, "train_log.jsonl"))]
  assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
  m = eval_lib.evaluate(wd, progress=False)
  assert m["step"] == 5
  names = sorted(os.listdir(os.path.join(tiny_scene, "images")))
  test_names = [n for i, n in enumerate(names) if i % 8 == 0]
  for n in test_names:
    assert os.path.isfile(os.path.join(wd, "eval", "test", n))
  for i, n in enumerate(names):
    if i % 8:
      assert os.path.isfile(os.path.join(wd, "eval", "train_deblur", n))
  assert np.isfinite(m["test"]["psnr"])
  with open(os.path.join(wd, "eval", "metrics.json")) as f:
    assert json.load(f)["step"] == 5
