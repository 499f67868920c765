"""Times the whole tutorial study with the local executor: 9 models x N seeds x 350 epochs.

    .venv/bin/python bench/sweep_study.py [--seeds=5] [--twenty] [--bare] [--out=sweeps_out/bench]

Each measurement is a fresh sweep (its directory is removed first), so nothing is skipped; the
local executor's worker processes import TensorFlow once each. Prints the wall time, the time
per run and the verdict against the target (<= 30 s for 5 seeds on the 2-core machine);
--twenty also times the 20-seed study (9 x 20 runs) the README's study 1 uses. --bare times the
study (--seeds) again without any TensorBoard instrumentation (--log_every=0: no scalars,
statistics or histograms), in the same run: how close the target is without them. Each line
also gives the runs' compiled-loop time (the sum of their train_time_s). --out is emptied before
each measurement, so it must be new or an earlier output of this benchmark.
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
CONFIGS = "configs/model*.cfg"
MARKER = ".sweep_study"  # what this benchmark leaves in --out: it may empty that directory again


def error(message):
    print(f"sweep_study.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def check_out(out):
    """Refuses an --out this benchmark may not empty: anything but a new directory or one it
    wrote (its marker inside)."""
    if os.path.islink(out) or (os.path.exists(out) and not os.path.isdir(out)):
        error(f"--out={out} is not a directory (a file or a link): pass a new directory")
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, MARKER)):
        error(
            f"--out={out} holds something this benchmark did not write (no {MARKER} in it), "
            "and each measurement empties --out: pass a new directory"
        )


def fresh(out):
    """Empties `out` for a fresh sweep: nothing to skip."""
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    open(os.path.join(out, MARKER), "w").close()


def study(seeds, out, extra=()):
    fresh(out)
    start = time.time()
    cmd = [sys.executable, "sweep.py", f"--configs={CONFIGS}", f"--seeds={seeds}", *extra]
    proc = subprocess.run([*cmd, f"--out={out}"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        # Bad input: the error line ends stderr. Runs that failed (exit 1): the summary, stdout.
        text = proc.stdout if proc.returncode == 1 and proc.stdout.strip() else proc.stderr
        last = (text.strip().splitlines() or ["(no output)"])[-1]
        sys.exit(f"sweep_study.py: the sweep failed (exit {proc.returncode}): {last}")
    return time.time() - start


def loop_seconds(out):
    """The sum of the runs' compiled-loop time (metrics.json's train_time_s), in CPU seconds of
    one worker each."""
    total = 0.0
    for path in glob.glob(os.path.join(out, "runs", "*", "metrics.json")):
        with open(path) as f:
            total += json.load(f)["train_time_s"]
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--twenty", action="store_true", help="also time the 20-seed study")
    parser.add_argument(
        "--bare", action="store_true", help="also time it without TensorBoard instrumentation"
    )
    parser.add_argument("--out", default=os.path.join(ROOT, "sweeps_out", "bench"))
    args = parser.parse_args()
    if not 1 <= args.seeds <= 1000:
        error("--seeds must be in 1..1000")
    out = os.path.abspath(args.out)  # sweep.py runs in the repository root
    check_out(out)
    configs = len(glob.glob(os.path.join(ROOT, CONFIGS)))
    measured = [(args.seeds, "")] + ([(20, "")] if args.twenty else [])
    measured += [(args.seeds, "--log_every=0")] if args.bare else []
    for seeds, flag in measured:
        wall = study(seeds, out, [f"--train_flag={flag}"] if flag else [])
        runs = configs * seeds
        line = f"tutorial study, {seeds} seeds{', ' + flag if flag else ''}: {runs} runs in "
        line += f"{wall:.1f} s wall ({wall / runs:.2f} s per run, {os.cpu_count()} cores; "
        line += f"compiled loops {loop_seconds(out):.1f} s summed over the runs)"
        if seeds == 5 and not flag:
            line += f"; target <= {TARGET_S:.0f} s: {'met' if wall <= TARGET_S else 'NOT met'}"
        elif flag:
            line += "; not the shipped configuration: no target"
        print(line, flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("sweep_study.py: interrupted; --out holds the interrupted sweep")
