"""Cost of calibration and generalization measures on the tutorial workload, timed in one run.

    .venv/bin/python bench/measures_overhead.py [--repeats=15] [--sharpness_samples=5]

train() whole (data, model build, tracing, 350 epochs, checkpoints, metrics.json), in one warm
process, alternating: as shipped, and with the additions switched off in-process (no ECE on the
validation pass, no distance from initialization on the histogram cadence, no initial kernels
kept, no calibration or measures after training) -- the baseline, measured in the same run. Both
with the default cadence and with --log_every=0 (where only the after-training part runs). Each
repeat runs one pair back to back; prints the medians and the median of the pairs' ratios
shipped / baseline with its quartiles (a run varies by several percent on a shared machine: the
pairs cancel its drifting load); the target is a median ratio <= 1.05. The sharpness search
(train.py's --sharpness_samples > 0; off there by default) is timed apart, here with 5 samples
unless --sharpness_samples=0: it costs what its forward passes cost.
"""

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fit_vs_loop import logging, ours  # noqa: E402

from inspection import measures, posthoc  # noqa: E402
from training import loop, run  # noqa: E402

TARGET = 1.05


@contextlib.contextmanager
def without_additions():
    """The run without calibration and measures: every addition a no-op."""
    init, add, save = loop.Trainer.__init__, run.add_posthoc, posthoc.save_initial
    distance = measures.distance_measures

    def plain_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.ece_bins = 0

    loop.Trainer.__init__ = plain_init
    run.add_posthoc = lambda *a, **k: None
    posthoc.save_initial = lambda *a, **k: None
    # Zeros in place of the distances (7 scalars still written: the tags' cost, not the sums').
    measures.distance_measures = lambda model, initial: (tf.zeros([len(initial)]), tf.zeros([]))
    try:
        yield
    finally:
        loop.Trainer.__init__, run.add_posthoc, posthoc.save_initial = init, add, save
        measures.distance_measures = distance


def timed(extra, logdir, baseline):
    """Seconds of one run; its result lines (about a temporary directory) go nowhere."""
    additions = without_additions() if baseline else contextlib.nullcontext()
    with additions, contextlib.redirect_stdout(io.StringIO()):
        return ours(extra, logdir)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--sharpness_samples", type=int, default=5)
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)
    cases = {"default cadence": [], "--log_every=0": ["--log_every=0"]}
    with tempfile.TemporaryDirectory() as logdir:
        timed(["--epochs=2"], logdir, baseline=False)  # warm-up
        times = {(c, b): [] for c in cases for b in (False, True)}
        for i in range(args.repeats):
            for case, extra in cases.items():
                # Pairs back to back, the order alternating (ABBA): a machine whose load drifts
                # slows both runs of a pair alike.
                for baseline in (True, False) if i % 2 == 0 else (False, True):
                    times[case, baseline].append(timed(extra, logdir, baseline))
        for case in cases:
            base, shipped = times[case, True], times[case, False]
            ratios = sorted(s / b for s, b in zip(shipped, base, strict=True))
            # Inclusive quartiles: within the pairs' range, however few they are.
            q1, median, q3 = (
                statistics.quantiles(ratios, n=4, method="inclusive")
                if len(ratios) > 1
                else ratios * 3
            )
            verdict = "met" if median <= TARGET else "NOT met"
            print(
                f"{case:16s} baseline {statistics.median(base):.3f} s, shipped "
                f"{statistics.median(shipped):.3f} s; paired ratio {median:.3f} (quartiles "
                f"{q1:.3f}-{q3:.3f}, {len(ratios)} pairs; target <= {TARGET}: {verdict})"
            )
        if args.sharpness_samples:
            extra = [f"--sharpness_samples={args.sharpness_samples}"]
            sharp = statistics.median(timed(extra, logdir, baseline=False) for _ in range(3))
            shipped = statistics.median(times["default cadence", False])
            print(
                f"with {extra[0]}: {sharp:.3f} s ({sharp - shipped:+.3f} s for the sharpness "
                "search, opt-in)"
            )


if __name__ == "__main__":
    main()
