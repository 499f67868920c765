"""Times the whole tutorial study with the local executor: 9 models x N seeds x 350 epochs.

    .venv/bin/python bench/sweep_study.py [--seeds=5] [--twenty] [--out=sweeps_out/bench]

Each measurement is a fresh sweep (its directory is removed first), so nothing is skipped; the
local executor's worker processes import TensorFlow once each. Prints the wall time, the time
per run and the verdict against the target (<= 30 s for 5 seeds on the 2-core machine);
--twenty also times the 20-seed study (9 x 20 runs) the README's study 1 uses.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_S = 30.0


def study(seeds, out):
    if os.path.exists(out):
        shutil.rmtree(out)  # a fresh sweep: nothing to skip
    start = time.time()
    cmd = [sys.executable, "sweep.py", "--configs=configs/model*.cfg", f"--seeds={seeds}"]
    subprocess.run([*cmd, f"--out={out}"], cwd=ROOT, check=True, capture_output=True)
    return time.time() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--twenty", action="store_true", help="also time the 20-seed study")
    parser.add_argument("--out", default="sweeps_out/bench")
    args = parser.parse_args()
    measured = [args.seeds] + ([20] if args.twenty else [])
    for seeds in measured:
        wall = study(seeds, args.out)
        runs = 9 * seeds
        line = f"tutorial study, {seeds} seeds: {runs} runs in {wall:.1f} s wall "
        line += f"({wall / runs:.2f} s per run, {os.cpu_count()} cores)"
        if seeds == 5:
            line += f"; target <= {TARGET_S:.0f} s: {'met' if wall <= TARGET_S else 'NOT met'}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
