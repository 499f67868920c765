"""train.py's flags of the calibration and generalization measures computed after training
(inspection/posthoc.py, docs/measures.md) (flagdef.Flag records)."""

import functools

from flagdef import Flag, finite

MAX_ECE_BINS = 10_000
MAX_SHARPNESS_SAMPLES = 1000  # forward passes over the training split per search step
MAX_SHARPNESS_STEPS = 60  # bisection steps: 2**-60 of the interval is below float precision

_flag = functools.partial(Flag, group="calibration and generalization measures", trains=False)


def _sharpness_on(values):
    return values["sharpness_samples"] > 0


RECORDS = (
    _flag(
        "ece_bins",
        15,
        "Equal-width confidence bins of the expected calibration error.",
        kind="integer",
        check=lambda v: 0 < v <= MAX_ECE_BINS,
        message=f"--ece_bins must be in 1..{MAX_ECE_BINS}",
    ),
    _flag(
        "sharpness_samples",
        0,
        "Noise draws per step of the sharpness search at the end of a run (each a pass over the "
        "training split); 0 skips the sharpness measure.",
        kind="integer",
        check=lambda v: 0 <= v <= MAX_SHARPNESS_SAMPLES,
        message=f"--sharpness_samples must be in 0..{MAX_SHARPNESS_SAMPLES} (0: no sharpness "
        "measure)",
    ),
    _flag(
        "sharpness_delta",
        0.1,
        "Sharpness: the training-accuracy drop the weight noise's sigma is searched for.",
        kind="float",
        check=lambda v: finite(v) and 0 < v < 1,
        message="--sharpness_delta must be in (0, 1): a drop of training accuracy",
        applies=_sharpness_on,
        idle_why="--sharpness_samples is 0",
    ),
    _flag(
        "sharpness_steps",
        15,
        "Bisection steps of the sharpness search.",
        kind="integer",
        check=lambda v: 0 < v <= MAX_SHARPNESS_STEPS,
        message=f"--sharpness_steps must be in 1..{MAX_SHARPNESS_STEPS}",
        applies=_sharpness_on,
        idle_why="--sharpness_samples is 0",
    ),
)
