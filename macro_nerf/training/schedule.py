"""Which kind of step runs at each training step.

- `ray`: single sharp rays at random pixels (every step of a naive run, and the defocus warm-up);
- `patch`: patches rendered sharp and blurred by each photo's lens (every defocus.patch_every-th
  step after the warm-up);
- `focus_ray`: rays weighted towards the pixels each photo has in focus (the other steps).
"""
import dataclasses

from macro_nerf.defocus.focus_init import warmup_steps


@dataclasses.dataclass(frozen=True)
class StepSchedule:
  defocus: bool
  warmup: int  # steps 1..warmup are ray steps
  patch_every: int  # 0: focus rays only after the warm-up; 1: patches only
  blur_ramp_steps: int = 0  # patch steps over which the blur grows in from zero

  @classmethod
  def from_config(cls, config):
    d = config.defocus
    return cls(bool(d.enabled), warmup_steps(config), d.patch_every, d.blur_ramp_steps)

  @property
  def kinds(self):
    return ("ray", "focus_ray", "patch") if self.defocus else ("ray",)

  def kind(self, step):
    if not self.defocus or step <= self.warmup:
      return "ray"
    every = self.patch_every
    return "patch" if every and (step - self.warmup) % every == 0 else "focus_ray"

  def phase(self, step):
    """The timing phase: the kind, or "mixed" while patch and focus-ray steps alternate."""
    kind = self.kind(step)
    return kind if kind == "ray" or self.patch_every in (0, 1) else "mixed"

  def blur_scale(self, step):
    """The blur ramp's factor on the radii of a patch step (None: no ramp)."""
    if self.blur_ramp_steps <= 0:
      return None
    return min(1.0, (step - self.warmup) / self.blur_ramp_steps)
