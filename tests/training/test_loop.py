"""End to end on a tiny generated scene: train, checkpoint, resume, evaluate; the step kinds."""
import json
import os

import jax
import numpy as np

from helpers import defocus_config, tiny_config
from macro_nerf.export.evaluation import evaluate
from macro_nerf.training.loop import train


def test_train_resume_eval(tiny_scene, tmp_path):
  wd = str(tmp_path / "wd")
  c = tiny_config(tiny_scene)
  _, _, state, summary = train(c, wd, progress=False)
  assert int(state.step) == 3 and summary["steps"] == 3
  assert os.path.isdir(os.path.join(wd, "checkpoints", "3"))
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.params))
  # Resume: only the missing steps run.
  c.train.max_steps = 5
  _, _, state, summary = train(c, wd, progress=False)
  assert int(state.step) == 5 and summary["steps"] == 2
  log = [json.loads(l) for l in open(os.path.join(wd, "train_log.jsonl"))]
  assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
  m = evaluate(wd, progress=False)
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


def test_defocus_train_resume_eval_reports_lens(tiny_scene, tiny_defocus_run, defocus_run_copy):
  _, summary, state = tiny_defocus_run
  wd = defocus_run_copy
  c = defocus_config(tiny_scene)
  assert int(state.step) == 4 and set(summary["phase_steps_per_sec"]) <= {"ray", "patch"}
  u0 = np.asarray(state.params["lens"]["focus_u"])
  assert np.all((u0 >= 0) & (u0 <= 1)) and not np.allclose(u0, 0.5)  # median-depth init ran
  c.train.max_steps = 5
  _, _, state, summary = train(c, wd, progress=False)
  assert int(state.step) == 5 and summary["steps"] == 1
  log = [json.loads(l) for l in open(os.path.join(wd, "train_log.jsonl"))]
  assert "clipped_frac" in log[-1] and "kappa_mean" in log[-1]
  m = evaluate(wd, progress=False)
  names = sorted(os.listdir(os.path.join(tiny_scene, "images")))
  train_names = [n for i, n in enumerate(names) if i % 8]
  assert sorted(m["lens"]) == train_names and m["lens_trained"] and "lens_note" not in m
  for v in m["lens"].values():
    assert v["focus_distance"] > 0 and v["kappa"] > 0


def test_a_run_stopped_in_its_warmup_reports_its_lens_as_untrained(tiny_scene, tmp_path):
  wd = str(tmp_path / "wd")
  _, _, _, summary = train(defocus_config(tiny_scene), wd, progress=False, stop_at=1)
  assert summary["defocus"] and not summary["lens_trained"]
  m = evaluate(wd, progress=False, splits=("test",))
  assert m["lens_trained"] is False and "initial lens, not learned" in m["lens_note"]


def test_patch_every_mixes_focus_ray_and_patch_steps(tiny_scene, tmp_path):
  c = defocus_config(tiny_scene)
  c.train.max_steps = 6
  c.defocus.patch_every = 2  # warm-up: step 1; steps 2, 4, 6: focus rays; 3, 5: patches
  _, _, state, summary = train(c, str(tmp_path / "mixed"), progress=False)
  assert int(state.step) == 6 and set(summary["phase_steps_per_sec"]) <= {"ray", "mixed"}
  log = [json.loads(l) for l in open(tmp_path / "mixed" / "train_log.jsonl")]
  # Patch steps log the lens (and, with defocus.patch_rays, their field rays' focus weights too).
  assert ["kappa_mean" in r for r in log[1:]] == [False, True, False, True, False]
  assert all("focus_weight_mean" in r for r in log[1:])
  assert all("patch_mse" in r for r in log[2::2])
  c.defocus.patch_every = 0  # focus rays only after the warm-up
  c.train.max_steps = 4
  _, _, state, summary = train(c, str(tmp_path / "rays"), progress=False)
  assert set(summary["phase_steps_per_sec"]) <= {"ray", "focus_ray"}
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.params))


def test_ndc_warp_and_appearance_codes_train_resume_and_evaluate(tiny_scene, tmp_path):
  """A forward-facing run with the grid in NDC and per-photo colour codes, defocus on: the codes
  are learned (one per training photo), resume restores them, eval renders the held-out views."""
  wd = str(tmp_path / "wd")
  c = defocus_config(tiny_scene)
  c.model.warp = "ndc"
  c.model.appearance = True
  c.train.max_steps = 3
  _, _, state, _ = train(c, wd, progress=False)
  codes = np.asarray(state.params["appearance"])
  assert codes.shape == (7, 3, 4) and np.all(np.isfinite(codes)) and np.abs(codes).max() > 0
  c.train.max_steps = 4
  _, _, state, summary = train(c, wd, progress=False)
  assert summary["steps"] == 1 and set(state.params) == {"model", "lens", "residual",
                                                           "appearance"}
  m = evaluate(wd, progress=False, splits=("test",))
  assert "train_deblur" not in m and np.isfinite(m["test"]["psnr"])
