"""Runs every variant x seed of a study, locally in parallel or as one SLURM job array.

    python sweep.py --configs='configs/model*.cfg' --seeds=5 --out=sweeps_out/tutorial
    python sweep.py --configs=configs/model6.cfg --grid=l2=0,1e-4,1e-3 --grid=dropout_rate=0,0.3 \\
        --train_flag=--epochs=100 --train_flag=--reg=l2,dropout --out=sweeps_out/l2_dropout
    python report.py --sweep_dir=sweeps_out/tutorial

A variant is a config (a train.py flagfile) at one point of the --grid; every variant runs with
seeds 0..--seeds-1. --train_flag=--NAME=VALUE adds one train.py flag to every run, its value
taken whole (commas included); --train_flags=--a=1,--b=2 is the short form for values without
commas. --grid=NAME=V1,V2,... crosses the train.py flag NAME's values with the configs; when a
value itself holds commas, separate the values with ';' instead (--grid='dropout_rate=0.5;0.5,0.3').
--grid=CONFIG:NAME=V1,V2,... binds a grid to one config (its path or file name), so that one
sweep holds several regularizers, each with its own grid, beside one baseline config.
The sweep sets --seed, --logdir, --run_name, --flagfile, --progress and --hparams_experiment
itself: giving them in a config, --train_flag or --grid is an error. Every run's full flag list
is checked with train.py's own flags and validators, and each data source once, before
anything is written (--dry_run stops there, lists the runs and estimates their time).

Run directories are <out>/runs/<variant>_<hash>_s<seed>, the hash being that of every trained
flag but the seed: changing any of them makes new runs. Re-running the same command skips
finished and diverged runs (after checking their config.json) and resumes interrupted ones. A
failed or diverged run is recorded (<out>/status/) and does not stop the sweep. Exit code: 0 when
every run finished, 1 when some did not (they are listed), 2 on bad input.
"""

import contextlib
import os
import sys
import time

from absl import flags, logging

import cli
from cluster import preemption, tf_runtime
from errors import UserError
from runs.exit_codes import EXIT_PREEMPTED
from sweeps import MAX_SEEDS, executors, manifest, progress, status

tf_runtime.never_plots()  # report.py plots; the plan's Keras loads without matplotlib (~0.4 s)

flags.DEFINE_list("configs", ["configs/model*.cfg"], "Flagfiles (globs allowed): the variants.")
flags.DEFINE_integer("seeds", 5, f"Seeds per variant: 0..seeds-1 (1 to {MAX_SEEDS}).")
flags.DEFINE_string("out", "sweeps_out/tutorial", "Sweep directory (runs/, logs/, results).")
flags.DEFINE_enum("executor", "local", ["local", "slurm"], "Where the runs execute.")
flags.DEFINE_integer("workers", os.cpu_count() or 1, "Parallel runs of the local executor (>= 1).")
flags.DEFINE_bool("wait", True, "slurm: wait for the job array to finish (sbatch --wait).")
flags.DEFINE_integer(
    "runs_per_task",
    None,
    f"slurm: most runs of one variant in one array task (1 to {MAX_SEEDS}); default: as many as "
    "the time estimate fits in about 5 minutes a task (1 where it is unknown).",
)
flags.DEFINE_multi_string(
    "train_flag",
    [],
    "One train.py flag for every run, value taken whole, e.g. --train_flag=--reg=l2,dropout. "
    "Repeat for more.",
)
flags.DEFINE_list(
    "train_flags",
    [],
    "Train.py flags for every run as a comma list, e.g. --epochs=50,--log_every=0 (values "
    "without commas only; use --train_flag for those).",
)
flags.DEFINE_multi_string(
    "grid",
    [],
    "NAME=V1,V2,...: run every config with each value of train.py's --NAME (repeat to cross "
    "several flags); CONFIG:NAME=V1,V2,...: for that config only (e.g. l2.cfg:l2=1e-4,1e-3). "
    "Values holding commas: separate them with ';', e.g. dropout_rate=0.5;0.5,0.3.",
)
flags.DEFINE_bool("dry_run", False, "Check and list the runs; write and run nothing.")
flags.register_validator("workers", lambda v: v >= 1, message="--workers must be >= 1")
flags.register_validator(
    "runs_per_task",
    lambda v: v is None or 1 <= v <= MAX_SEEDS,
    message=f"--runs_per_task must be between 1 and {MAX_SEEDS}",
)
flags.register_multi_flags_validator(
    ["runs_per_task", "executor"],
    lambda f: f["runs_per_task"] is None or f["executor"] == "slurm",
    message="--runs_per_task groups the runs of SLURM array tasks: use it with --executor=slurm",
)
flags.register_validator(
    "configs", bool, message="--configs must list at least one flagfile, e.g. configs/model1.cfg"
)
flags.register_validator(
    "out", lambda v: bool(v.strip()), message="--out must name the sweep directory"
)
flags.register_validator(
    "seeds",
    lambda v: 1 <= v <= MAX_SEEDS,
    message=f"--seeds must be between 1 and {MAX_SEEDS}",
)
FLAGS = flags.FLAGS

EXIT_INCOMPLETE = 1  # the sweep ran, but not every run finished


def _dirs(out):
    try:
        for sub in ("runs", "logs", "status"):
            os.makedirs(os.path.join(out, sub), exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot write the sweep directory {out} ({e.strerror}); pass a writable --out"
        ) from e


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


def summary(out, runs, ran, wall):
    """The sweep's final report: counts, and every run that did not finish, with its error."""
    outcomes = {r.name: status.outcome(out, r.name) for r in runs}
    counts = {}
    for o in outcomes.values():
        counts[o.status] = counts.get(o.status, 0) + 1
    variants = len({r.variant.name for r in runs})
    lines = [
        f"sweep {out}: {_count(len(runs), 'run')} ({_count(variants, 'variant')} x "
        f"{_count(len(runs) // variants, 'seed')}); "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    ]
    if ran:
        lines.append(f"ran {_count(ran, 'run')} in {wall:.1f}s ({wall / ran:.2f}s per run)")
    bad = [(name, o) for name, o in outcomes.items() if o.status != "finished"]
    if bad:
        width = max(len(name) for name, _ in bad)
        lines.append(f"not finished ({len(bad)}):")
        for name, o in bad:
            code = "-" if o.exit is None else str(o.exit)
            lines.append(f"  {name:<{width}}  {o.status:<9} exit {code:<4} {o.log}: {o.error}")
    return "\n".join(lines), not bad


def sweep():
    local = FLAGS.executor == "local" and not FLAGS.dry_run
    logs_dir = os.path.abspath(os.path.join(FLAGS.out, "logs"))
    # The local workers import TensorFlow while this process plans (more are started later if
    # --workers exceeds the cores, fewer kept if fewer can be busy).
    early = min(FLAGS.workers, os.cpu_count() or 1)
    workers = executors.Workers(FLAGS.workers, logs_dir, early) if local else None
    _exit_quietly_before_the_runs(workers)
    try:
        return _sweep(workers, logs_dir)
    finally:
        if workers:
            workers.stop()


def dry_run(runs, todo, done, est, tasks):
    """Lists the runs, and the time the runs to do should take (sweeps/estimate.py); with
    --executor=slurm, the array `tasks` the runs to do are grouped in, all running at once."""
    from sweeps import estimate

    for r in runs:
        secs = est.seconds[r.name]
        took = "?" if secs is None else f"~{secs:.1f}s"
        print(f"{r.name}\t{done[r.name]}\t{took}\t{r.variant.label}\t{' '.join(r.args)}")
    for name, how in dict.fromkeys((r.variant.name, est.how[r.variant.name]) for r in runs):
        per = [est.seconds[r.name] for r in runs if r.variant.name == name]
        print(f"variant {name}: ~{estimate.duration(per[0])} a run ({how})")
    if FLAGS.executor == "local":
        wall = estimate.wall_time(todo, est, min(FLAGS.workers, max(1, len(todo))))
        where = f"{FLAGS.workers} local workers"
    else:
        times = [executors.task_seconds(t, est) for t in tasks]
        wall = None if None in times else max(times, default=0)
        most = max(map(len, tasks), default=0)
        where = f"SLURM ({_count(len(tasks), 'array task')} of up to {_count(most, 'run')})"
    modeled = [r for r in todo if r.variant.name in est.modeled]
    bound = " at most (early stopping)" if any(map(estimate.upper_bound, modeled)) else ""
    print(
        f"{len(runs)} runs, {len(todo)} to run, ~{estimate.duration(wall)}{bound} with {where} "
        "(dry run: nothing written)"
    )


def _exit_quietly_before_the_runs(workers):
    """Until the runs start (run_local then stops them), a stop signal ends the sweep with one
    line and exit 75, its workers with it: nothing has been trained or half-written yet."""

    def end_workers():
        for proc in workers.procs if workers else ():
            with contextlib.suppress(OSError):
                proc.kill()

    preemption.exit_quietly_outside_training(
        "sweep.py", when="before any run started", before_exit=end_workers
    )


def _sweep(workers, logs_dir):
    # These import train.py's options, and with them TensorFlow: only once the flags are good.
    from sweeps import data_check, estimate, tensorboard
    from sweeps import plan as sweep_plan
    from sweeps import train_args as targs

    out = FLAGS.out
    runs_dir = os.path.join(out, "runs")
    extra = targs.extra_flags(FLAGS.train_flags, FLAGS.train_flag)
    grid = targs.parse_grid(FLAGS.grid, extra)
    variants, runs = sweep_plan.plan(FLAGS.configs, FLAGS.seeds, runs_dir, extra, grid)
    datasets = data_check.check(runs)  # a bad data file: one error now, not one per run
    done = {r.name: sweep_plan.existing_status(runs_dir, r) for r in runs}
    todo = [r for r in runs if done[r.name] not in ("finished", "diverged")]
    est = estimate.estimate(runs, datasets, runs_dir)
    tasks = []
    if FLAGS.executor == "slurm":
        per_task = executors.runs_per_task(todo, est, FLAGS.runs_per_task)
        tasks = executors.group_runs(todo, per_task)
    if FLAGS.dry_run:
        dry_run(runs, todo, done, est, tasks)
        return 0
    _dirs(out)
    protocol = {
        **sweep_plan.settings_summary(variants),
        "configs": FLAGS.configs,
        "seeds": FLAGS.seeds,
        "train_flags": extra,
        **targs.grid_protocol(grid),
        "executor": FLAGS.executor,
    }
    manifest.write(out, variants, runs, protocol)
    tensorboard.write_view(out, variants, runs)
    logging.info(
        "%s (%s x %s): %d done, %d to run with the %s executor",
        _count(len(runs), "run"),
        _count(len(variants), "variant"),
        _count(FLAGS.seeds, "seed"),
        len(runs) - len(todo),
        len(todo),
        FLAGS.executor,
    )
    start = time.time()
    stopped_by = None  # the signal that stopped a local sweep early
    ran = len(todo)  # runs started
    for r in todo:
        status.forget(out, r.name)
    if todo and FLAGS.executor == "slurm":
        for i, task in enumerate(tasks):  # before sbatch: the tasks record their runs' exits
            for r in task:
                status.record(out, r.name, executor="slurm", task=i, log=f"logs/{r.name}.log")
        job = executors.submit_slurm(tasks, out, logs_dir, FLAGS.wait)
        logging.info(
            "submitted job array %s (%s, %d runs)", job, _count(len(tasks), "task"), len(todo)
        )
        if not FLAGS.wait:
            print(
                f"submitted job array {job} ({_count(len(tasks), 'task')}, {len(todo)} runs); "
                "report.py once it has ended"
            )
            return 0
    elif todo:
        shown = progress.Progress(out, todo, est)

        def on_result(name, code, note=None):
            log = f"logs/{name}.log"
            status.record(out, name, executor="local", exit=code, log=log, note=note)
            shown.report(name, code, note)

        workers.resize(min(FLAGS.workers, executors.Dispatcher.useful_workers(todo)))
        _, ran, stopped_by = executors.run_local(todo, workers, logs_dir, on_result)
    text, complete = summary(out, runs, ran, time.time() - start)
    print(text)
    if stopped_by:
        print(
            f"sweep.py: {stopped_by} received: no further run started, the runs in progress "
            "stopped (at a checkpoint once training had begun); rerun the same command to resume",
            file=sys.stderr,
        )
        return EXIT_PREEMPTED
    return 0 if complete else EXIT_INCOMPLETE


if __name__ == "__main__":
    cli.run(sweep)
