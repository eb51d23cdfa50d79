"""Training: the state and its optimiser, each step's batch and loss, the step schedule,
checkpoints, the workdir, the loop, and sweeps of many runs."""
