"""How long a sweep's runs take: a model of the compiled loop's cost, or the time measured on
the runs of the same variant that already finished.

Model (CPU, float32; fitted on this project's 2-core machine, good to about a factor of 2):
a run takes RUN_S (model build, checkpoints, export) plus, every epoch, STEP_S per optimizer step
(the loop is launch-bound on small batches; SAM's two passes a step count twice) plus
FLOP_PER_PARAM_EXAMPLE x parameters x (train + validation rows) at FLOPS, plus the sharpness
search after training (samples x steps forward passes over the training rows). It counts every
epoch: with early stopping a run usually ends sooner, so the figure is an upper bound and says
so. The first run of a variant in a worker also traces the loop (TRACE_S); later seeds reuse
it. Convolutions do more work per parameter than this counts, so CNN runs are underestimated
until a measured time replaces the model.
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
SHARPNESS_PASS_S = 2e-3  # one noisy forward pass of the sharpness search, launch-bound
PROCESS_S = 4.0  # a worker's or array task's Python + TensorFlow start-up


@dataclasses.dataclass
class Estimate:
    seconds: dict  # run name -> estimated seconds (None: unknown, e.g. tfds data)
    how: dict  # variant name -> how its figure was found, for the dry run's lines
    modeled: set = dataclasses.field(default_factory=set)  # variants the cost model estimated


def _modeled(run, dataset):
    import models  # imports TensorFlow: not before sweep.py has its signal handlers
    import regularizers

    ident = run.identity
    train, val = len(dataset.train), len(dataset.val)
    steps = -(-train // min(ident["batch_size"], train))
    params = models.parameter_estimate(types.SimpleNamespace(**ident), dataset)
    passes = max(
        (r.passes_per_step for n in ident.get("reg") or () if (r := regularizers.REGISTRY.get(n))),
        default=1,
    )
    examples = train + val / 3
    per_epoch = steps * STEP_S * passes + FLOP_PER_PARAM_EXAMPLE * params * examples / FLOPS
    noisy = ident.get("sharpness_samples", 0) * ident.get("sharpness_steps", 0)
    sharpness = noisy * (SHARPNESS_PASS_S + 2 * params * train / FLOPS)
    return RUN_S + ident["epochs"] * per_epoch + sharpness


def upper_bound(run):
    """Whether the model's figure for `run` is an upper bound (early stopping may end it)."""
    return run.identity.get("early_stopping_patience", 0) > 0


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
    seconds, how, modeled = {}, {}, set()
    for run in runs:
        times = measured.get(run.variant.name)
        if times:
            seconds[run.name] = statistics.median(times)
            how[run.variant.name] = f"measured ({len(times)} runs)"
        elif run.name in datasets:
            seconds[run.name] = _modeled(run, datasets[run.name])
            modeled.add(run.variant.name)
            bound = upper_bound(run)
            how[run.variant.name] = (
                "model, at most: early stopping may end it sooner" if bound else "model"
            )
        else:
            seconds[run.name] = None
            how[run.variant.name] = "unknown (tfds data is loaded by the runs)"
    return Estimate(seconds, how, modeled)


def wall_time(runs, est, processes):
    """Seconds for `runs` on `processes` parallel workers (None if any run is unknown): the
    runs' time plus a trace per variant, shared out, plus one start-up (nothing to run: 0)."""
    times = [est.seconds[r.name] for r in runs]
    if any(t is None for t in times):
        return None
    if not runs:
        return 0.0
    variants = len({r.variant.name for r in runs})
    return PROCESS_S + (sum(times) + TRACE_S * variants) / max(1, processes)


def duration(seconds):
    """'0.4 s', '42 s', '3 min 5 s', '2 h 10 min' (tenths under 10 s: a run can take 0.4 s)."""
    if seconds is None:
        return "unknown"
    if seconds < 9.95:
        return f"{seconds:.1f} s" if seconds else "0 s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"
