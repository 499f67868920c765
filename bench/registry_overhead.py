"""The regularizer registry's cost on the tutorial workload: this tree vs. the commit before it.

    .venv/bin/python bench/registry_overhead.py [--repeats=9] [--before=33ff344]

Runs `python train.py --flagfile=configs/model1.cfg` (model1: no regularizer, the case where
the registry must cost nothing) from this tree and from a checkout of `--before` (the last
commit before regularizers became plug-ins), alternating, in fresh processes with the same
venv. Prints the medians of the whole command (start to exit) and of metrics.json's
train_time_s (the compiled loop alone), and their ratios. Target: <= 1.05 (within 5%).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(tree, logdir, name):
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "train.py",
            "--flagfile=configs/model1.cfg",
            f"--logdir={logdir}",
            f"--run_name={name}",
            "--progress=lines",
        ],
        cwd=tree,
        check=True,
        capture_output=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    wall = time.perf_counter() - start
    with open(os.path.join(logdir, name, "metrics.json")) as f:
        return wall, json.load(f)["train_time_s"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--before", default="33ff344")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = os.path.join(tmp, "before")
        subprocess.run(
            ["git", "worktree", "add", "--detach", before, args.before],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            times = {"before": [], "now": []}
            for i in range(args.repeats + 1):  # the first pair warms the page cache
                for label, tree in (("before", before), ("now", ROOT)):
                    result = run(tree, os.path.join(tmp, "logs"), f"{label}{i}")
                    if i:
                        times[label].append(result)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", before], cwd=ROOT, capture_output=True
            )
    for k, clock in enumerate(("whole command", "train_time_s (compiled loop)")):
        b = statistics.median(t[k] for t in times["before"])
        n = statistics.median(t[k] for t in times["now"])
        verdict = "met" if n / b <= 1.05 else "NOT met"
        print(
            f"{clock:30s} before {b:6.3f} s  now {n:6.3f} s  ratio {n / b:.3f} "
            f"(target <= 1.05: {verdict})"
        )


if __name__ == "__main__":
    main()
