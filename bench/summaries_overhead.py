"""Cost of the TensorBoard instrumentation on the tutorial workload, timed in one run.

    .venv/bin/python bench/summaries_overhead.py [--repeats=5] [--process_repeats=3]

The tutorial workload (configs/model1.cfg, 350 epochs) with the default cadence (losses, metrics
and per-layer statistics every epoch, histograms every 50), with per-layer statistics every 10
epochs (--stats_every=10), and with --log_every=0 (no summaries), alternated.
Two clocks, each against the --log_every=0 baseline measured in this run:
  - in-process: train() whole (data, model build, tracing, training, checkpoints, metrics.json),
    in one warm Python process;
  - command: `python train.py ...` from start to exit, as a researcher or a batch job waits for it
    (Python and TensorFlow start-up included).
Target: default cadence / --log_every=0 <= 1.10.
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
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["--log_every=0"]
    print(title)
    for name, t in med.items():
        runs = ", ".join(f"{x:.2f}" for x in times[name])
        print(f"  {name:16s} {t:6.3f} s  ratio {t / base:.3f}  (runs: {runs})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--process_repeats", type=int, default=3)
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)
    with tempfile.TemporaryDirectory() as logdir:
        ours(["--epochs=2"], logdir)  # warm-up
        in_process = measure(ours, args.repeats, logdir)
        whole = measure(command, args.process_repeats, logdir)
    show("in-process train():", in_process)
    show("command (python train.py, start to exit):", whole)
    print("target: default cadence / --log_every=0 <= 1.10")


if __name__ == "__main__":
    main()
