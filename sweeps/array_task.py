"""One SLURM array task of a sweep: trains its runs, all of one variant, in one process.

sweep.py --executor=slurm writes <out>/tasks.json (the runs of every array task) and submits
slurm/sweep_array.sbatch, whose task i runs `python -m sweeps.array_task <out>/tasks.json i`.
As in a local worker (sweeps/worker.py), TensorFlow is imported once and the variant's seeds
share one compiled loop, so each run's numbers equal a standalone train.py run's. Each run logs
to <out>/logs/<run>.log; its exit code goes to <out>/status/<run>.json.

A requeued task starts over its list: a run already finished or diverged is skipped, an
interrupted one resumes from its checkpoint. A stop signal (SLURM's time-limit warning,
preemption) checkpoints the run in training, no further run starts, and the task exits 75,
which slurm/common.sh requeues. Otherwise the task exits 0 when every run exited 0, else with
the first non-zero exit code of its runs.
"""

import os
import sys

from cluster import preemption
from runs import rundir
from runs.exit_codes import EXIT_PREEMPTED
from sweeps import status, worker

DONE = ("finished", "diverged")  # what a rerun skips, as sweep.py does


def _done(out, name):
    try:
        return rundir.read_json(os.path.join(out, "runs", name, "metrics.json")).get("status")
    except (OSError, ValueError):
        return None


def run_task(tasks_file, index):
    """Trains task `index`'s runs; returns the task's exit code."""
    # A stop signal while TensorFlow is imported: one line, exit 75 (requeued), nothing trained.
    preemption.exit_quietly_outside_training("sweeps.array_task", when="before any run started")
    plan = rundir.read_json(tasks_file)
    out, specs = plan["out"], plan["tasks"][index]
    received = []  # stop signals: no run starts after one
    worker.start(received.append)
    job = os.environ.get("SLURM_ARRAY_JOB_ID")
    first_error = 0
    for spec in specs:
        name = spec["name"]
        if received:
            print(f"{name}: not started ({received[0]} received)", flush=True)
            return EXIT_PREEMPTED
        done = _done(out, name)
        if done in DONE:
            print(f"{name}: {done} already, skipped", flush=True)
            continue
        print(f"{name}: training (log {spec['log']})", flush=True)
        code = worker.serve(spec)
        log = os.path.relpath(spec["log"], out)
        status.record(out, name, executor="slurm", job=job, task=index, exit=code, log=log)
        print(f"{name}: exited with {code}", flush=True)
        if code == EXIT_PREEMPTED or received:
            return EXIT_PREEMPTED
        first_error = first_error or code
    return first_error


if __name__ == "__main__":
    sys.exit(run_task(sys.argv[1], int(sys.argv[2])))
