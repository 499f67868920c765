"""train.py's run-directory and logging flags: where a run goes, how often it logs and
checkpoints (flagdef.Flag records)."""

import functools

from flagdef import Flag, finite
from training.flags import MAX_EPOCHS

NAME_MAX = 255  # bytes of one file name (Linux file systems)
MAX_LOGDIR = 3072  # bytes of --logdir, leaving room for the run name under PATH_MAX (4096)
_EPOCHS = f"at most {MAX_EPOCHS} epochs"

_flag = functools.partial(Flag, group="logging and checkpoints", trains=False)


def _logdir_ok(v):
    if not v.strip() or len(v.encode()) > MAX_LOGDIR:
        return False
    return all(len(part.encode()) <= NAME_MAX for part in v.split("/"))


def _summaries_on(values):
    return values["log_every"] > 0


RECORDS = (
    _flag(
        "logdir",
        "runs_out",
        "Parent directory of run directories.",
        check=_logdir_ok,
        message=f"--logdir must not be empty, and must be a path of at most {MAX_LOGDIR} bytes "
        f"whose names are at most {NAME_MAX} bytes each",
        per_run=True,
        sweep_sets="runs go to <--out>/runs",
    ),
    _flag(
        "run_name",
        "",
        "Run directory name under --logdir; empty: derived from the flags.",
        check=lambda v: "/" not in v and v not in (".", "..") and len(v.encode()) <= 200,
        message="--run_name must be a plain directory name (no '/', at most 200 bytes)",
        per_run=True,
        sweep_sets="the sweep names every run",
    ),
    _flag(
        "log_every",
        1,
        "Epochs between scalar summaries; 0 turns summaries off.",
        kind="integer",
        check=lambda v: 0 <= v <= MAX_EPOCHS,
        message=f"--log_every must be >= 0 and {_EPOCHS} (0 turns summaries off)",
    ),
    _flag(
        "stats_every",
        None,
        "Epochs between per-layer statistics (weights, gradients, activations, BatchNorm); "
        "0 turns them off. Default: --log_every.",
        kind="integer",
        check=lambda v: v is None or 0 <= v <= MAX_EPOCHS,
        message=f"--stats_every must be >= 0 and {_EPOCHS} (0 turns them off)",
        applies=_summaries_on,
        idle_why="summaries are off (--log_every=0)",
        normalize=lambda value, values: values["log_every"] if value is None else value,
    ),
    _flag(
        "hist_every",
        50,
        "Epochs between histograms; 0 turns them off.",
        kind="integer",
        check=lambda v: 0 <= v <= MAX_EPOCHS,
        message=f"--hist_every must be >= 0 and {_EPOCHS} (0 turns histograms off)",
        applies=_summaries_on,
        idle_why="summaries are off (--log_every=0)",
    ),
    _flag(
        "sparsity_threshold",
        1e-3,
        "A weight counts as sparse when |w| is below this.",
        kind="float",
        check=lambda v: finite(v) and v > 0,
        message="--sparsity_threshold must be > 0",
        trains=True,  # it is in metrics.json's numbers
    ),
    _flag(
        "checkpoint_every",
        50,
        "Epochs between checkpoints.",
        kind="integer",
        check=lambda v: 0 < v <= MAX_EPOCHS,
        message=f"--checkpoint_every must be > 0 and {_EPOCHS}",
        per_run=True,
    ),
    _flag(
        "keep_checkpoints",
        3,
        "Checkpoints kept in the run directory.",
        kind="integer",
        check=lambda v: 0 < v <= 1000,
        message="--keep_checkpoints must be in 1..1000",
        per_run=True,
    ),
    _flag(
        "progress",
        "auto",
        "auto: a progress bar on a terminal, timestamped lines in batch jobs.",
        kind="enum",
        choices=("auto", "bar", "lines"),
        per_run=True,
        sweep_sets="sweep logs use --progress=lines",
    ),
    _flag(
        "hparams_experiment",
        True,
        "Write the run's HParams columns beside its values. A sweep turns it off and writes "
        "one experiment for all its runs (TensorBoard reads only one).",
        kind="bool",
        per_run=True,
        sweep_sets="the sweep writes one for all its runs (<out>/tensorboard)",
    ),
)
