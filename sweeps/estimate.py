"""How long a sweep's runs take: a model of the compiled loop's cost, or the time measured on
the runs of the same variant that already finished.

Model (CPU, float32; fitted on this project's 2-core machine, good to about a factor of 2):
a run takes RUN_S (model build, checkpoints, export) plus, every epoch, STEP_S per optimizer step
(the loop is launch-bound on small batches) plus FLOP_PER_PARAM_EXAMPLE x parameters x
(train + validation rows) at FLOPS. The first run of a variant in a worker also traces the loop
(TRACE_S); later seeds reuse it. Convolutions do more work per parameter than this counts, so
CNN runs are underestimated until a measured time replaces the model.
"""

import dataclasses
import os
import statistics
import types

from runs import rundir

RUN_S = 1.0
STEP_S = 1.5e-3
FLOP_PER_PARAM_EXAMPLE = 6  # forward + backward; the validation pass counts as a third of it
FLOPS = 1e11
TRACE_S = 3.0
PROCESS_S = 4.0  # a worker's or array task's Python + TensorFlow start-up


@dataclasses.dataclass
class Estimate:
    seconds: dict  # run name -> estimated seconds (None: unknown, e.g. tfds data)
    how: dict  # variant name -> "model" or "measured (n runs)"


def _modeled(run, dataset):
    import models  # imports TensorFlow: not before sweep.py has its signal handlers

    ident = run.identity
    train, val = len(dataset.train), len(dataset.val)
    steps = -(-train // min(ident["batch_size"], train))
    params = models.parameter_estimate(types.SimpleNamespace(**ident), dataset)
    examples = train + val / 3
    per_epoch = steps * STEP_S + FLOP_PER_PARAM_EXAMPLE * params * examples / FLOPS
    return RUN_S + ident["epochs"] * per_epoch


def _measured(runs_dir, runs):
    """{variant: [wall seconds of its finished runs]} from their metrics.json."""
    out = {}
    for run in runs:
        try:
            m = rundir.read_json(os.path.join(runs_dir, run.name, "metrics.json"))
        except (OSError, ValueError):
            continue
        if m.get("status") == "finished" and m.get("resumed_from_epoch") == 0:
            out.setdefault(run.variant.name, []).append(float(m["wall_time_s"]))
    return out


def estimate(runs, datasets, runs_dir):
    """An Estimate for `runs`, whose data.Dataset's are `datasets` (sweeps/data_check.py)."""
    measured = _measured(runs_dir, runs)
    seconds, how = {}, {}
    for run in runs:
        times = measured.get(run.variant.name)
        if times:
            seconds[run.name] = statistics.median(times)
            how[run.variant.name] = f"measured ({len(times)} runs)"
        elif run.name in datasets:
            seconds[run.name] = _modeled(run, datasets[run.name])
            how[run.variant.name] = "model"
        else:
            seconds[run.name] = None
            how[run.variant.name] = "unknown (tfds data is loaded by the runs)"
    return Estimate(seconds, how)


def wall_time(runs, est, processes):
    """Seconds for `runs` on `processes` parallel workers (None if any run is unknown): the
    runs' time plus a trace per variant, shared out, plus one start-up."""
    times = [est.seconds[r.name] for r in runs]
    if any(t is None for t in times):
        return None
    variants = len({r.variant.name for r in runs})
    return PROCESS_S + (sum(times) + TRACE_S * variants) / max(1, processes)


def duration(seconds):
    """'42 s', '3 min 5 s', '2 h 10 min'."""
    if seconds is None:
        return "unknown"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"
