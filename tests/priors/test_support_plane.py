"""The support-plane prior: RANSAC against a known plane, the penalty against a loop, training."""
import json

import jax
import jax.numpy as jnp
import numpy as np

import ml_collections

from helpers import defocus_config
from macro_nerf.nerf import camera
from macro_nerf.priors import support_plane
from macro_nerf.training.loop import train


def test_ransac_finds_the_ground_under_objects_and_orients_it_up():
  rng = np.random.default_rng(0)
  n_true = np.array([0.1, -0.2, 1.0]) / np.linalg.norm([0.1, -0.2, 1.0])
  u = np.cross(n_true, [1.0, 0, 0]); u /= np.linalg.norm(u)
  v = np.cross(n_true, u)
  a, b = rng.uniform(-1, 1, (2, 600, 1))
  ground = 0.3 * n_true + a * u + b * v + rng.normal(0, 0.002, (600, 1)) * n_true
  objects = 0.3 * n_true + rng.uniform(-0.3, 0.3, (250, 1)) * u + rng.uniform(0.05, 0.6, (250, 1)) * n_true
  n, d, frac = support_plane.fit_plane_ransac(np.r_[ground, objects], np.array([0, 0, 1.0]), 0.01)
  assert np.dot(n, n_true) > 0.9999 and abs(d - 0.3) < 2e-3
  assert abs(frac - 600 / 850) < 0.02
  n2, d2, _ = support_plane.fit_plane_ransac(np.r_[ground, objects], np.array([0, 0, -1.0]), 0.01)
  np.testing.assert_allclose(np.r_[n2, d2], -np.r_[n, d], atol=1e-12)  # oriented by `up`


def test_penalty_matches_a_loop():
  rng = np.random.default_rng(1)
  r, k = 5, 7
  s = np.sort(rng.uniform(0, 1, (r, k + 1)), -1)
  s[:, 0], s[:, -1] = 0.0, 1.0
  w = rng.uniform(0, 0.3, (r, k))
  o, dvec = rng.normal(0, 0.3, (r, 3)), rng.normal(0, 1, (r, 3))
  near, far = np.full((r, 1), 0.5), np.full((r, 1), 3.0)
  rays = camera.make_rays(jnp.asarray(o), jnp.asarray(dvec), jnp.asarray(near), jnp.asarray(far),
                          jnp.zeros((r, 1), jnp.int32))
  plane = np.array([0.0, 0.6, 0.8, 0.1])
  for disparity in (True, False):
    got = float(support_plane.above_plane_penalty([(jnp.asarray(s), jnp.asarray(w))], rays,
                                                  jnp.asarray(plane), disparity, 0.05, 0.2))
    ref = 0.0
    for i in range(r):
      for j in range(k):
        t = [1 / (1 / 0.5 + q * (1 / 3.0 - 1 / 0.5)) if disparity else 0.5 + q * 2.5
             for q in (s[i, j], s[i, j + 1])]
        x = o[i] + 0.5 * (t[0] + t[1]) * dvec[i]
        h = x @ plane[:3] - plane[3]
        ref += w[i, j] * min(max((h - 0.05) / 0.2, 0.0), 1.0)
    np.testing.assert_allclose(got, ref / r, rtol=1e-5)


def test_prior_starts_at_its_step_refits_trains_and_logs(tiny_scene, tmp_path, capsys):
  c = defocus_config(tiny_scene)
  c.defocus.patch_every = 2  # focus-ray steps carry the prior too
  c.train.max_steps = 5
  c.prior.support_plane.weight = 0.01
  c.prior.support_plane.start = 2
  c.prior.support_plane.refit_every = 2
  c.prior.support_plane.min_fraction = 0.0  # a 5-step field is fog: take whatever plane it has
  _, _, state, _ = train(c, str(tmp_path / "plane"), progress=False)
  log = [json.loads(l) for l in open(tmp_path / "plane" / "train_log.jsonl")]
  # Step 1 warms up; 2 and 4 are focus-ray steps, 3 and 5 patch steps (their field rays carry
  # the prior, defocus.patch_rays); the plane is fit at 3.
  assert ["above_plane" in r for r in log] == [False, False, True, True, True]
  assert all(np.isfinite(r["above_plane"]) for r in log if "above_plane" in r)
  fits = [l for l in capsys.readouterr().out.splitlines() if l.startswith("support plane at")]
  assert [f.split()[4].rstrip(":") for f in fits] == ["3", "5"]  # first fit, then refit
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state.params))


def test_no_prior_without_a_support(tiny_scene, tmp_path, capsys):
  c = defocus_config(tiny_scene)
  c.train.max_steps = 4
  c.prior.support_plane.weight = 0.01
  c.prior.support_plane.start = 1
  c.prior.support_plane.min_fraction = 1.01  # no plane can hold more than all the points
  train(c, str(tmp_path / "none"), progress=False)
  log = [json.loads(l) for l in open(tmp_path / "none" / "train_log.jsonl")]
  assert not any("above_plane" in r for r in log)
  fits = [l for l in capsys.readouterr().out.splitlines() if l.startswith("support plane at")]
  assert len(fits) == 1 and fits[0].endswith("prior off")


def test_fit_refit_and_stop_steps():
  c = ml_collections.ConfigDict({"prior": {"support_plane": dict(
      weight=0.01, start=10, refit_every=5, stop=0, min_fraction=0.2)}})
  hook = support_plane.SupportPlane(c, None, None, None)
  fits, have = [], False
  for step in range(1, 31):
    if hook.fit_due(step, have):
      fits.append(step)
      have = True
  assert fits == [11, 16, 21, 26]
  c.prior.support_plane.stop = 20
  assert [s for s in range(1, 31) if hook.over(s)] == list(range(21, 31))
  assert [s for s in range(1, 31) if hook.fit_due(s, s > 11)] == [11, 16]
  assert not hook.fit_due(25, False)  # resumed past the stop: no fit
  # Due: a fit, or the step that drops the plane (only while it is there).
  assert hook.due(11, {}) and not hook.due(12, {"support_plane": 0})
  assert hook.due(21, {"support_plane": 0}) and not hook.due(21, {})
