"""Exit codes of train.py (documented in BUILD.md); SLURM scripts requeue on EXIT_PREEMPTED."""

EXIT_OK = 0
EXIT_ERROR = 1  # an unexpected error (a bug): Python's traceback is printed
# Bad input: a flag, a data file, a device, a run directory (finished, other flags, in use by
# another process, checkpoints that cannot be restored).
EXIT_USAGE = 2
EXIT_DIVERGED = 3  # the loss became NaN/inf (and no rollback was left)
# A file of the run could not be written (disk full, quota, I/O error): one line names it and the
# last good checkpoint; free space and rerun the same command to resume (sysexits EX_IOERR).
EXIT_IO = 74
EXIT_PREEMPTED = 75  # a signal asked us to stop; a checkpoint was saved; rerun to resume
# 137 (killed): a multi-worker run whose peers did not connect within --cluster_timeout; its
# watchdog prints the reason first (cluster/devices.py).
