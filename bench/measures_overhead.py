"""Cost of calibration and generalization measures on the tutorial workload, timed in one run.

    .venv/bin/python bench/measures_overhead.py [--repeats=7] [--flagfile=configs/model1.cfg]

train() whole (data, model build, tracing, 350 epochs, checkpoints, metrics.json), in one warm
process, alternating: as shipped, and with the additions switched off in-process (no ECE on the
validation pass, no measures on the stats cadence, no initial kernels kept, no calibration or
measures after training) -- the baseline, measured in the same run. Both with the default
cadence and with --log_every=0 (where only the after-training part runs). Prints the medians and
the ratio shipped / baseline; the target is <= 1.05. The sharpness search (--sharpness_samples
> 0, off by default) is timed apart: it costs what its forward passes cost.
"""

import argparse
import contextlib
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
    with without_additions() if baseline else contextlib.nullcontext():
        return ours(extra, logdir)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sharpness_samples", type=int, default=5)
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)
    cases = {"default cadence": [], "--log_every=0": ["--log_every=0"]}
    with tempfile.TemporaryDirectory() as logdir:
        ours(["--epochs=2"], logdir)  # warm-up
        times = {(c, b): [] for c in cases for b in (False, True)}
        for _ in range(args.repeats):
            for case, extra in cases.items():
                for baseline in (True, False):
                    times[case, baseline].append(timed(extra, logdir, baseline))
        for case in cases:
            base = statistics.median(times[case, True])
            shipped = statistics.median(times[case, False])
            verdict = "met" if shipped / base <= TARGET else "NOT met"
            print(
                f"{case:16s} baseline {base:.3f} s, shipped {shipped:.3f} s: ratio "
                f"{shipped / base:.3f} (target <= {TARGET}: {verdict})"
            )
        if args.sharpness_samples:
            extra = [f"--sharpness_samples={args.sharpness_samples}"]
            sharp = statistics.median(ours(extra, logdir) for _ in range(3))
            shipped = statistics.median(times["default cadence", False])
            print(
                f"with {extra[0]}: {sharp:.3f} s ({sharp - shipped:+.3f} s for the sharpness "
                "search, opt-in)"
            )


if __name__ == "__main__":
    main()
