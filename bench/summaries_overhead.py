"""Cost of the TensorBoard instrumentation on the tutorial workload, timed in one run.

    .venv/bin/python bench/summaries_overhead.py [--repeats=5]

The same train.py run (model1, 350 epochs) with the default cadence (--log_every=1,
--hist_every=50: every scalar of the README's tag groups each epoch, histograms every 50) and
with --log_every=0 (no summaries), alternated. Times cover train() whole: data, model build,
tracing, training, checkpoints, metrics.json. Target: ratio <= 1.10.
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fit_vs_loop import logging, ours  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)
    on, off = [], []
    with tempfile.TemporaryDirectory() as logdir:
        ours(["--epochs=2"], logdir)  # warm-up
        for _ in range(args.repeats):
            on.append(ours([], logdir))
            off.append(ours(["--log_every=0"], logdir))
    a, b = statistics.median(on), statistics.median(off)
    print(f"default summaries: {a:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in on)})")
    print(f"--log_every=0:     {b:.3f} s  (runs: {', '.join(f'{x:.2f}' for x in off)})")
    print(f"instrumented / plain = {a / b:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
