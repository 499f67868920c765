"""Times the whole tutorial study with the local executor: 9 models x 5 seeds x 350 epochs.

    .venv/bin/python bench/sweep_study.py [--out=sweeps_out/tutorial]

Process start-up is included (every run is a fresh `python train.py`). Target: <= 120 s on the
2-core CI machine. Then `python report.py --sweep_dir=<out>` writes the README's table.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="sweeps_out/tutorial")
parser.add_argument("--seeds", type=int, default=5)
args = parser.parse_args()
if os.path.exists(args.out):
    shutil.rmtree(args.out)  # a fresh sweep: nothing to skip
start = time.time()
subprocess.run(
    [
        sys.executable,
        os.path.join(ROOT, "sweep.py"),
        "--configs=configs/model*.cfg",
        f"--seeds={args.seeds}",
        f"--out={args.out}",
    ],
    cwd=ROOT,
    check=True,
)
wall = time.time() - start
runs = 9 * args.seeds
print(
    f"tutorial study: {runs} runs in {wall:.1f} s wall ({wall / runs:.2f} s per run, "
    f"{os.cpu_count()} cores); target <= 120 s: {'met' if wall <= 120 else 'NOT met'}"
)
