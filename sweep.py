"""Runs every variant x seed of a study, locally in parallel or as one SLURM job array.

    python sweep.py --configs='configs/model*.cfg' --seeds=5 --out=sweeps_out/tutorial
    python report.py --sweep_dir=sweeps_out/tutorial

Re-running the same command skips finished runs and resumes interrupted ones (train.py resumes
from their checkpoints). A failed or diverged run is recorded and does not stop the sweep.
"""

import os
import time

from absl import flags, logging

import cli
from errors import UserError
from sweeps import executors
from sweeps import plan as sweep_plan

flags.DEFINE_list("configs", ["configs/model*.cfg"], "Flagfiles (globs allowed): the variants.")
flags.DEFINE_integer("seeds", 5, "Seeds per variant: 0..seeds-1.")
flags.DEFINE_string("out", "sweeps_out/tutorial", "Sweep directory (runs/, logs/, results).")
flags.DEFINE_enum("executor", "local", ["local", "slurm"], "Where the runs execute.")
flags.DEFINE_integer("workers", os.cpu_count() or 1, "Parallel runs of the local executor.")
flags.DEFINE_bool("wait", True, "slurm: wait for the job array to finish (sbatch --wait).")
flags.DEFINE_list("train_flags", [], "Extra train.py flags for every run, e.g. --epochs=50.")
FLAGS = flags.FLAGS


def sweep():
    out = FLAGS.out
    runs_dir = os.path.join(out, "runs")
    logs_dir = os.path.join(out, "logs")
    extra = [f if f.startswith("--") else f"--{f}" for f in FLAGS.train_flags]
    runs = sweep_plan.plan(FLAGS.configs, FLAGS.seeds, runs_dir, extra)
    try:
        os.makedirs(runs_dir, exist_ok=True)
        os.makedirs(logs_dir, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot write the sweep directory {out} ({e.strerror}); pass a writable --out"
        ) from e
    sweep_plan.write_manifest(out, runs)
    todo = [r for r in runs if r.status(runs_dir) not in ("finished", "diverged")]
    logging.info(
        "%d runs (%d variants x %d seeds): %d done, %d to run with the %s executor",
        len(runs),
        len(runs) // FLAGS.seeds,
        FLAGS.seeds,
        len(runs) - len(todo),
        len(todo),
        FLAGS.executor,
    )
    if not todo:
        return 0
    start = time.time()
    if FLAGS.executor == "slurm":
        job = executors.submit_slurm(todo, out, logs_dir, FLAGS.wait)
        logging.info("submitted job array %s (%d tasks)", job, len(todo))
        if not FLAGS.wait:
            return 0
    else:
        executors.run_local(todo, logs_dir, FLAGS.workers)
    statuses = {r.name: r.status(runs_dir) for r in runs}
    counts = {s: list(statuses.values()).count(s) for s in sorted(set(statuses.values()))}
    wall = time.time() - start
    logging.info("sweep done in %.1fs (%.2fs per run): %s", wall, wall / len(todo), counts)
    print(f"{len(todo)} runs in {wall:.1f}s ({wall / len(todo):.2f}s per run); statuses {counts}")
    for name, status in statuses.items():
        if status != "finished":
            print(f"  {name}: {status} (log: {os.path.join(logs_dir, name + '.log')})")
    return 0


if __name__ == "__main__":
    cli.run(sweep)
