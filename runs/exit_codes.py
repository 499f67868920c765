"""Exit codes of train.py (documented in BUILD.md); SLURM scripts requeue on EXIT_PREEMPTED."""

EXIT_OK = 0
EXIT_ERROR = 1  # an unexpected error (a bug): Python's traceback is printed
EXIT_USAGE = 2  # bad input: a flag, a data file, a device, a run directory
EXIT_DIVERGED = 3  # the loss became NaN/inf (and no rollback was left)
EXIT_CLUSTER = 4  # the other workers could not be reached within --cluster_timeout
EXIT_PREEMPTED = 75  # a signal asked us to stop; a checkpoint was saved; rerun to resume
