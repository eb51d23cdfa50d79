"""The step schedule: which kind of step runs when, the timing phases and the blur ramp."""
from helpers import defocus_config
from macro_nerf.defocus.focus_init import lens_trained, warmup_steps
from macro_nerf.training.schedule import StepSchedule


def test_naive_runs_ray_steps_only():
  s = StepSchedule(defocus=False, warmup=300, patch_every=4)
  assert s.kinds == ("ray",)
  assert {s.kind(k) for k in range(1, 1000)} == {"ray"}


def test_defocus_warms_up_then_mixes_patch_and_focus_ray_steps():
  s = StepSchedule(defocus=True, warmup=3, patch_every=2)
  assert [s.kind(k) for k in range(1, 9)] == ["ray"] * 3 + ["focus_ray", "patch"] * 2 + ["focus_ray"]
  assert [s.phase(k) for k in (3, 4, 5)] == ["ray", "mixed", "mixed"]
  only_patches = StepSchedule(defocus=True, warmup=3, patch_every=1)
  assert [only_patches.kind(k) for k in (3, 4, 5)] == ["ray", "patch", "patch"]
  assert only_patches.phase(4) == "patch"
  only_rays = StepSchedule(defocus=True, warmup=3, patch_every=0)
  assert [only_rays.kind(k) for k in (3, 4, 5)] == ["ray", "focus_ray", "focus_ray"]
  assert only_rays.phase(5) == "focus_ray"


def test_blur_ramp_grows_over_its_steps():
  assert StepSchedule(True, 10, 1).blur_scale(11) is None
  s = StepSchedule(True, 10, 1, blur_ramp_steps=4)
  assert [s.blur_scale(k) for k in (11, 12, 14, 20)] == [0.25, 0.5, 1.0, 1.0]


def test_from_config_follows_the_defocus_keys(tmp_path):
  c = defocus_config(str(tmp_path))
  s = StepSchedule.from_config(c)
  assert (s.defocus, s.warmup, s.patch_every) == (True, 1, 1)
  c.defocus.enabled = False
  assert StepSchedule.from_config(c) == StepSchedule(False, 0, 1, 0)


def test_warmup_is_at_most_a_fraction_of_the_run(tmp_path):
  c = defocus_config(str(tmp_path))
  c.defocus.warmup_steps = 300
  c.defocus.warmup_fraction = 0.5
  for steps, warm in [(3000, 300), (500, 250), (400, 200), (3, 1), (1, 1)]:
    c.train.max_steps = steps
    assert warmup_steps(c) == warm == StepSchedule.from_config(c).warmup
  c.defocus.warmup_fraction = 0.25
  c.train.max_steps = 600
  assert warmup_steps(c) == 150
  c.defocus.warmup_steps = 0
  assert warmup_steps(c) == 0
  c.train.max_steps, c.defocus.warmup_steps = 600, 300
  assert not lens_trained(c, 150) and lens_trained(c, 151)
  c.defocus.enabled = False
  assert warmup_steps(c) == 0 and not lens_trained(c, 600)
