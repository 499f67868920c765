"""Cost of the TensorBoard instrumentation on the tutorial workload, timed in one run.

    .venv/bin/python bench/summaries_overhead.py [--repeats=5] [--process_repeats=15] [--pieces=5]

The tutorial workload (configs/model1.cfg, 350 epochs) with the default cadence (losses, metrics
and per-layer statistics every epoch, histograms every 50), with per-layer statistics every 10
epochs (--stats_every=10), and with --log_every=0 (no summaries), alternated.
Two clocks, each against the --log_every=0 baseline measured in this run:
  - in-process: train() whole (data, model build, tracing, training, checkpoints, metrics.json),
    in one warm Python process;
  - command: `python train.py ...` from start to exit, as a researcher or a batch job waits for it
    (Python and TensorFlow start-up included).
Target: default cadence / --log_every=0 <= 1.10 on the command clock, the run's wall time. Not on
train() alone (~1.1 s): tracing and optimizing the instrumentation's graph costs ~0.23 s there
before the first epoch runs, more than 10% whatever the cadence (see --pieces).

Then, piece by piece (in-process, --pieces repeats), where the cost goes: tracing the compiled
loop, its first call beyond the epochs it trains (graph optimization, kernel set-up), and the
time per epoch, for no summaries, losses/metrics only, + per-layer statistics, + histograms.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fit_vs_loop import logging, ours  # noqa: E402

from training import loop  # noqa: E402

TARGET = 1.10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = {
    "default cadence": [],
    "--stats_every=10": ["--stats_every=10"],
    "--log_every=0": ["--log_every=0"],
}


def command(extra, logdir):
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "train.py"),
            "--flagfile=configs/model1.cfg",
            f"--logdir={logdir}",
            f"--run_name=r{time.time_ns()}",
            "--progress=lines",
            *extra,
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def measure(fn, repeats, logdir):
    times = {name: [] for name in VARIANTS}
    for _ in range(repeats):
        for name, extra in VARIANTS.items():
            times[name].append(fn(extra, logdir))
    return times


def show(title, times):
    """Prints the medians and their ratios to --log_every=0; returns the default cadence's."""
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["--log_every=0"]
    print(title)
    for name, t in med.items():
        runs = ", ".join(f"{x:.2f}" for x in times[name])
        print(f"  {name:16s} {t:6.3f} s  ratio {t / base:.3f}  (runs: {runs})")
    return med["default cadence"] / base


PIECES = {
    "no summaries (--log_every=0)": ["--log_every=0"],
    "losses and metrics": ["--stats_every=0", "--hist_every=0"],
    "+ per-layer statistics": ["--hist_every=0"],
    "+ histograms (default)": [],
}


class TimedTrainer(loop.Trainer):
    """A Trainer that times the tracing of its compiled loop and each call of it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        compiled, self.times = self.run, []

        def run(first, last):
            if not self.times:
                start = time.perf_counter()
                compiled.get_concrete_function(first, last)
                self.times.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = compiled(first, last)
            self.times.append(time.perf_counter() - start)
            return result

        self.run = run
        TimedTrainer.last = self


def pieces(repeats, logdir):
    """Median tracing, first-call overhead and per-epoch time of each PIECES variant."""
    loop_trainer, loop.Trainer = loop.Trainer, TimedTrainer  # train() imports it at call time
    chunk, epochs = 50, 350  # the default --checkpoint_every: 7 calls of the compiled loop
    rows = {name: [] for name in PIECES}
    try:
        for _ in range(repeats):
            for name, extra in PIECES.items():
                ours([*extra, f"--checkpoint_every={chunk}"], logdir)
                trace, first, *rest = TimedTrainer.last.times
                per_epoch = sum(rest) / (epochs - chunk)
                rows[name].append((trace, first - chunk * per_epoch, per_epoch))
    finally:
        loop.Trainer = loop_trainer
    print("piece by piece (train(), medians): tracing, first call beyond its epochs, per epoch")
    for name, values in rows.items():
        trace, first, per_epoch = (statistics.median(v[i] for v in values) for i in range(3))
        print(f"  {name:30s} {trace:6.3f} s  {first:6.3f} s  {per_epoch * 1000:6.3f} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--process_repeats", type=int, default=15)
    parser.add_argument("--pieces", type=int, default=5)
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)
    with tempfile.TemporaryDirectory() as logdir:
        ours(["--epochs=2"], logdir)  # warm-up
        if args.repeats:
            show("in-process train():", measure(ours, args.repeats, logdir))
        if args.process_repeats:
            ratio = show(
                "command (python train.py, start to exit):",
                measure(command, args.process_repeats, logdir),
            )
            verdict = "met" if ratio <= TARGET else "NOT met"
            print(f"target, command clock: {ratio:.3f} <= {TARGET:.2f}: {verdict}")
        if args.pieces:
            pieces(args.pieces, logdir)


if __name__ == "__main__":
    main()
