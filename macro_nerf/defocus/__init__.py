"""The blur: thin-lens circle-of-confusion radii, the scatter-form blur kernel, the per-photo lens
and its learned residual, where the lens starts, and the data terms of the defocus steps."""
