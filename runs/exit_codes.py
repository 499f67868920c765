"""Exit codes of train.py (documented in BUILD.md); SLURM scripts requeue on EXIT_PREEMPTED."""

EXIT_OK = 0
EXIT_ERROR = 1  # an unexpected error (a bug): Python's traceback is printed
EXIT_USAGE = 2  # bad input: a flag, a data file, a device, a run directory
EXIT_DIVERGED = 3  # the loss became NaN/inf (and no rollback was left)
EXIT_PREEMPTED = 75  # a signal asked us to stop; a checkpoint was saved; rerun to resume
# 137 (killed): a multi-worker run whose peers did not connect within --cluster_timeout; its
# watchdog prints the reason first (cluster/devices.py).
