"""Where a sweep's runs execute: local processes in parallel, or one SLURM job array."""

import collections
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from absl import logging

from errors import UserError
from runs import rundir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker_env(workers, environ=None):
    """The workers' environment: each gets its share of the cores for TensorFlow's intra- and
    inter-op pools (unless TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS are set already).
    With TF's default of a thread per core in each pool of every process, two workers on two
    cores finished no sooner than one; the share also made parallel epochs 10% faster than
    a 1-thread intra-op pool alone. Numbers are unchanged (tests/test_sweep.py)."""
    env = {**(os.environ if environ is None else environ), "TF_CPP_MIN_LOG_LEVEL": "2"}
    share = str(max(1, (os.cpu_count() or 1) // workers))
    env.setdefault("TF_NUM_INTRAOP_THREADS", share)
    env.setdefault("TF_NUM_INTEROP_THREADS", share)
    return env


class Dispatcher:
    """Hands a free worker its next run: the next seed of the variant it just trained (whose
    compiled loop it reuses), else a variant no worker has started, the costliest first, else
    the variant with the most work left. Workers thus rarely trace a variant twice, and the
    cheap variants at the end let them finish close together. A variant's cost per run is
    estimated as epochs / batch_size (its optimizer steps on a dataset the variants share)."""

    def __init__(self, runs):
        self.left = {}  # variant name -> its runs not handed out yet, in seed order
        self.cost = {}
        for r in runs:
            self.left.setdefault(r.variant.name, collections.deque()).append(r)
            self.cost[r.variant.name] = r.identity["epochs"] / r.identity["batch_size"]
        self.busy = collections.Counter()  # variant name -> workers training it
        self.lock = threading.Lock()

    def next(self, previous=None):
        """The next run for a worker whose last run was `previous` (None: its first)."""
        with self.lock:
            if previous is not None:
                self.busy[previous.variant.name] -= 1
            names = [name for name, queue in self.left.items() if queue]
            if not names:
                return None
            if previous is not None and previous.variant.name in names:
                name = previous.variant.name
            else:
                name = min(names, key=lambda n: (self.busy[n] > 0, -self.work_left(n)))
            self.busy[name] += 1
            return self.left[name].popleft()

    def work_left(self, name):
        return self.cost[name] * len(self.left[name])

    def remaining(self):
        with self.lock:
            return [r for queue in self.left.values() for r in queue]


class Workers:
    """The local executor's worker processes (sweeps/worker.py), started before the sweep plans
    its runs: each spends ~3 s importing TensorFlow, which then overlaps the planning."""

    def __init__(self, count, logs_dir):
        env = worker_env(count)
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "sweeps.worker", logs_dir],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]

    def stop(self):
        """Ends every worker still running: idle ones (closed input) and any left behind."""
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            if proc.poll() is None:
                proc.kill()  # idle, or still importing: nothing of a run is lost
            proc.wait()


def run_local(runs, workers, logs_dir, on_result=None):
    """Runs the runs in the `workers` (a started Workers); returns {run name: exit code}.

    Each worker process imports TensorFlow once and is handed runs one at a time (Dispatcher).
    on_result(name, code, note) is called as each run ends. A worker that dies reports the run
    it was training with code None and a note; the others go on with the rest, and runs that no
    worker was left to train are reported the same way. Re-running the sweep picks them up.
    """
    on_result = on_result or (lambda name, code, note=None: None)
    dispatcher = Dispatcher(runs)
    codes = {}
    start = time.time()

    def work(index):
        proc = workers.procs[index]
        run = None
        try:
            while (run := dispatcher.next(run)) is not None:
                log = os.path.join(logs_dir, f"{run.name}.log")
                spec = {"name": run.name, "args": list(run.args), "log": log}
                try:
                    proc.stdin.write(json.dumps(spec) + "\n")
                    proc.stdin.flush()
                    line = proc.stdout.readline()
                except (BrokenPipeError, OSError):
                    line = ""
                if not line:  # the worker died during this run
                    proc.wait()
                    note = f"its worker process exited with {proc.returncode} before this run ended"
                    codes[run.name] = None
                    on_result(run.name, None, note)
                    return
                code = json.loads(line)["exit"]
                codes[run.name] = code
                on_result(run.name, code)
                logging.info(
                    "%s: exit %s (worker %d, %.1f s since the runs began)",
                    run.name,
                    code,
                    index,
                    time.time() - start,
                )
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            proc.wait()

    count = min(len(workers.procs), len(runs))
    with ThreadPoolExecutor(max_workers=max(count, 1)) as pool:
        list(pool.map(work, range(count)))
    for run in dispatcher.remaining():
        codes[run.name] = None
        on_result(run.name, None, "not started: every worker process had exited")
    return codes


def check_slurm_args(runs):
    """slurm/array.sbatch splits each line of the variants file on whitespace."""
    for run in runs:
        spaced = [a for a in run.args if len(a.split()) != 1]
        if spaced:
            raise UserError(
                f"--executor=slurm passes flags as whitespace-separated lines; {spaced[0]!r} "
                "contains whitespace: use paths and values without it"
            )


def submit_slurm(runs, out_dir, logs_dir, wait):
    """Submits slurm/array.sbatch with one array task per run; returns the job id."""
    check_slurm_args(runs)
    variants = os.path.join(out_dir, "variants.txt")
    rundir.write_text(variants, "".join(" ".join(run.args) + "\n" for run in runs))
    cmd = [
        "sbatch",
        "--parsable",
        f"--array=0-{len(runs) - 1}",
        f"--output={logs_dir}/slurm-%A_%a.out",
        f"--export=ALL,VARIANTS={variants}",
    ]
    if wait:
        cmd.append("--wait")
    cmd.append(os.path.join(ROOT, "slurm", "array.sbatch"))
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise UserError("--executor=slurm needs sbatch on PATH (run on a SLURM login node)") from e
    job = proc.stdout.strip().split(";")[0]
    if not job:  # --wait returns the job's exit code; a failed array task is not an error here
        raise UserError(f"sbatch failed: {proc.stderr.strip()}")
    return job
