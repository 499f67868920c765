"""Times the whole tutorial study with the local executor: 9 models x N seeds x 350 epochs.

    .venv/bin/python bench/sweep_study.py [--seeds=5] [--twenty] [--bare] [--out=sweeps_out/bench]

Each measurement is a fresh sweep (its directory is removed first), so nothing is skipped; the
local executor's worker processes import TensorFlow once each. Prints the wall time, the time
per run and the verdict against the target (<= 30 s for 5 seeds on the 2-core machine);
--twenty also times the 20-seed study (9 x 20 runs) the README's study 1 uses. --bare times the
same 5-seed study again without any TensorBoard instrumentation (--log_every=0: no scalars,
statistics or histograms), in the same run: how close the target is without them, and the
compiled loops' share (the sum of the runs' train_time_s).
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_S = 30.0


def study(seeds, out, extra=()):
    if os.path.exists(out):
        shutil.rmtree(out)  # a fresh sweep: nothing to skip
    start = time.time()
    cmd = [sys.executable, "sweep.py", "--configs=configs/model*.cfg", f"--seeds={seeds}", *extra]
    subprocess.run([*cmd, f"--out={out}"], cwd=ROOT, check=True, capture_output=True)
    return time.time() - start


def loop_seconds(out):
    """The sum of the runs' compiled-loop time (metrics.json's train_time_s), in CPU seconds of
    one worker each."""
    paths = glob.glob(os.path.join(out, "runs", "*", "metrics.json"))
    return sum(json.load(open(p))["train_time_s"] for p in paths)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--twenty", action="store_true", help="also time the 20-seed study")
    parser.add_argument(
        "--bare", action="store_true", help="also time it without TensorBoard instrumentation"
    )
    parser.add_argument("--out", default="sweeps_out/bench")
    args = parser.parse_args()
    measured = [(args.seeds, "")] + ([(20, "")] if args.twenty else [])
    measured += [(args.seeds, "--log_every=0")] if args.bare else []
    for seeds, flag in measured:
        wall = study(seeds, args.out, [f"--train_flag={flag}"] if flag else [])
        runs = 9 * seeds
        line = f"tutorial study, {seeds} seeds{', ' + flag if flag else ''}: {runs} runs in "
        line += f"{wall:.1f} s wall ({wall / runs:.2f} s per run, {os.cpu_count()} cores; "
        line += f"compiled loops {loop_seconds(args.out):.1f} s summed over the runs)"
        if seeds == 5:
            line += f"; target <= {TARGET_S:.0f} s: {'met' if wall <= TARGET_S else 'NOT met'}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
