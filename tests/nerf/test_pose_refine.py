"""Learned per-photo pose corrections against float64 references, and in a tiny run."""
import jax
import jax.numpy as jnp
import numpy as np

from helpers import defocus_config
from macro_nerf.nerf import pose_refine
from macro_nerf.training.checkpoints import load_run
from macro_nerf.training.loop import train


def expm_reference(omega):
  """exp of the skew matrix of omega (3,) by its power series, float64."""
  k = np.array([[0, -omega[2], omega[1]], [omega[2], 0, -omega[0]], [-omega[1], omega[0], 0]])
  out, term = np.eye(3), np.eye(3)
  for n in range(1, 40):
    term = term @ k / n
    out = out + term
  return out


def test_rotation_is_the_matrix_exponential_and_smooth_at_zero():
  rng = np.random.default_rng(0)
  omegas = np.concatenate([rng.normal(0, 1.0, (5, 3)), rng.normal(0, 1e-5, (3, 3)),
                           np.zeros((1, 3))])
  got = np.asarray(pose_refine.rotation(jnp.asarray(omegas, jnp.float32)))
  for w, r in zip(omegas, got):
    np.testing.assert_allclose(r, expm_reference(w), atol=2e-6)
  np.testing.assert_allclose(pose_refine.rotation(omegas, xnp=np)[0], expm_reference(omegas[0]),
                             atol=1e-12)
  jac = jax.jacobian(lambda w: pose_refine.rotation(w))(jnp.zeros(3))
  assert np.all(np.isfinite(np.asarray(jac)))
  # d R / d omega_x at 0 is the generator of rotations about x.
  np.testing.assert_allclose(np.asarray(jac)[..., 0], [[0, 0, 0], [0, 0, -1], [0, 1, 0]],
                             atol=1e-6)


def test_corrections_act_in_the_camera_frame():
  """A point at p in corrected camera i's frame lies at c2w_i (R p + t) in the world."""
  rng = np.random.default_rng(1)
  rot = np.stack([expm_reference(w) for w in rng.normal(0, 1, (3, 3))])
  c2w = np.concatenate([rot, rng.normal(0, 1, (3, 3, 1))], axis=-1)
  deltas = rng.normal(0, 0.1, (3, 6))
  got = pose_refine.apply(c2w, deltas, xnp=np)
  p = rng.normal(0, 1, 3)
  for i in range(3):
    r_d, t_d = expm_reference(deltas[i, :3]), deltas[i, 3:]
    want = c2w[i, :, :3] @ (r_d @ p + t_d) + c2w[i, :, 3]
    np.testing.assert_allclose(got[i, :, :3] @ p + got[i, :, 3], want, atol=1e-12)


def test_centred_corrections_and_refined_data():
  data = {"c2w": jnp.asarray(np.tile(np.eye(3, 4), (2, 1, 1)), jnp.float32), "near": 1}
  assert pose_refine.refined_data({"model": {}}, data) is data
  same = pose_refine.refined_data({"pose": jnp.full((2, 6), 0.2)}, data)  # one shift for all
  np.testing.assert_allclose(np.asarray(same["c2w"]), np.asarray(data["c2w"]), atol=1e-6)
  moved = pose_refine.refined_data({"pose": jnp.array([[0, 0, 0, 0.1, 0, 0], [0.0] * 6])}, data)
  np.testing.assert_allclose(np.asarray(moved["c2w"])[:, 0, 3], [0.05, -0.05], atol=1e-6)


def test_a_run_learns_corrections_and_evaluates_at_them(tiny_scene, tmp_path):
  """Pose refinement trains beside the lens (its own optimiser group): finite, non-zero
  corrections; load_run moves only the training photos."""
  c = defocus_config(tiny_scene)
  c.train.pose_refine = True
  c.train.pose_lr_init = c.train.pose_lr_final = 1e-2
  scene, _, state, _ = train(c, str(tmp_path), progress=False)
  deltas = np.asarray(state.params["pose"])
  assert deltas.shape == (len(scene.train_idx), 6)
  assert np.all(np.isfinite(deltas)) and np.abs(deltas).max() > 0
  assert sorted(state.params) == ["lens", "model", "pose", "residual"]
  _, loaded, _, _ = load_run(str(tmp_path))
  moved = np.abs(loaded.c2w - scene.c2w).max(axis=(1, 2))
  assert np.all(moved[scene.test_idx] == 0) and np.all(moved[scene.train_idx] > 0)
