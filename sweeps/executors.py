"""Where a sweep's runs execute: local processes in parallel, or one SLURM job array whose
tasks each train several runs of a variant."""

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading

from absl import logging

from cluster import preemption
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
    a share of the variant with the most work left, if at least two of its runs are left (the
    last one is sooner done by the worker that traced the variant). Workers thus rarely trace a
    variant twice, and the cheap variants at the end let them finish close together. A
    variant's cost per run is estimated as epochs / batch_size (its optimizer steps on a dataset
    the variants share)."""

    def __init__(self, runs):
        self.left = {}  # variant name -> its runs not handed out yet, in seed order
        self.cost = {}
        for r in runs:
            self.left.setdefault(r.variant.name, collections.deque()).append(r)
            self.cost[r.variant.name] = r.identity["epochs"] / r.identity["batch_size"]
        self.busy = collections.Counter()  # variant name -> workers training it
        self.stopped = False
        self.lock = threading.Lock()

    def next(self, previous=None):
        """The next run for a worker whose last run was `previous` (None: its first), or None:
        nothing is left for it."""
        with self.lock:
            if previous is not None:
                self.busy[previous.variant.name] -= 1
            if self.stopped:
                return None
            names = [n for n, queue in self.left.items() if queue]
            if previous is not None and previous.variant.name in names:
                name = previous.variant.name
            else:
                names = [n for n in names if not self.busy[n] or len(self.left[n]) >= 2]
                if not names:
                    return None
                name = min(names, key=lambda n: (self.busy[n] > 0, -self.work_left(n)))
            self.busy[name] += 1
            return self.left[name].popleft()

    @staticmethod
    def useful_workers(runs):
        """How many workers can be busy at once: the last run of a variant is never shared, so a
        variant of n runs keeps at most n - 1 workers (1 for a single run) busy."""
        sizes = collections.Counter(r.variant.name for r in runs).values()
        return sum(max(1, n - 1) for n in sizes)

    def work_left(self, name):
        return self.cost[name] * len(self.left[name])

    def stop(self):
        """Hands out nothing more (the sweep was asked to stop)."""
        with self.lock:
            self.stopped = True

    def remaining(self):
        with self.lock:
            return [r for queue in self.left.values() for r in queue]


class Workers:
    """The local executor's worker processes (python -m sweeps.worker). Each spends ~3 s
    importing TensorFlow, so they start before the sweep plans its runs; they run at a lower
    priority (nice 10: batch work), so the planning, which finds any bad flag, is not slowed."""

    def __init__(self, wanted, logs_dir, early):
        self.env = worker_env(wanted)
        self.logs_dir = logs_dir
        self.procs = []
        self.resize(early)

    def resize(self, count):
        """Starts workers up to `count`, or ends idle ones beyond it."""
        while len(self.procs) < count:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "sweeps.worker", self.logs_dir],
                    cwd=ROOT,
                    env=self.env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    # Its own process group: a Ctrl-C reaches the sweep, which stops the runs in
                    # progress itself (run_local), not every worker at once. (Not a session of
                    # its own: the kernel's autogroups would then share the CPU by session and
                    # ignore the worker's lower priority.)
                    process_group=0,
                    preexec_fn=_lower_priority,
                )
            )
        for proc in self.procs[count:]:
            _end(proc)
        del self.procs[count:]

    def stop(self):
        """Ends every worker still running: idle ones (closed input) and any left behind."""
        for proc in self.procs:
            _end(proc)


def _lower_priority():
    with contextlib.suppress(OSError):
        os.nice(10)


def _end(proc):
    with contextlib.suppress(OSError):
        proc.stdin.close()
    if proc.poll() is None:
        proc.kill()  # idle, or still importing: nothing of a run is lost
    proc.wait()


def run_local(runs, workers, logs_dir, on_result=None):
    """Runs the runs in the `workers` (a Workers); returns (exit codes by run name, the number of
    runs started, the name of the signal that stopped the sweep or None).

    Each worker is handed runs one at a time (Dispatcher). on_result(name, code, note) is called
    as each run ends. A worker that dies reports the run it was training with code None and a
    note; the others go on with the rest. A stop signal (SIGINT, SIGTERM, SIGUSR1) is passed on to
    the workers' runs, which checkpoint and end; nothing more is handed out. Runs that no worker
    trained are reported with code None too. Re-running the sweep picks them all up. An error
    of on_result's (a full disk) stops the handing out too, and is raised once the workers end.
    """
    local = _LocalRuns(runs, workers, logs_dir, on_result)
    threads = [
        threading.Thread(target=local.work, args=(i, proc), daemon=True)
        for i, proc in enumerate(workers.procs[: len(runs)])
    ]
    previous = preemption.install(local.stop)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()  # a signal runs `stop` here, then the join goes on
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    dispatcher, received = local.dispatcher, local.received
    started = len(runs) - len(dispatcher.remaining())
    why = f"the sweep was stopped ({received[0]})" if received else "every worker had exited"
    for run in dispatcher.remaining():
        local.codes[run.name] = None
        local.record(run.name, None, f"not started: {why}")  # a no-op once on_result has failed
    if local.failed:
        raise local.failed[0]
    return local.codes, started, (received[0] if received else None)


class _LocalRuns:
    """The state run_local's worker threads and its signal handler share."""

    def __init__(self, runs, workers, logs_dir, on_result):
        self.dispatcher = Dispatcher(runs)
        self.workers, self.logs_dir, self.on_result = workers, logs_dir, on_result
        self.failed = []  # an error of the sweep's own (its status file on a full disk)
        self.codes = {}
        self.busy = set()  # workers training a run now: the ones a stop signal is passed on to
        self.received = []  # names of the stop signals

    def record(self, name, code, note=None):
        if self.on_result is None or self.failed:
            return
        try:
            self.on_result(name, code, note)
        except Exception as e:  # noqa: BLE001 (raised again in the main thread)
            self.failed.append(e)
            self.dispatcher.stop()  # nothing more is handed out; the runs in progress end

    def work(self, index, proc):
        """Hands worker `proc` its runs until none is left (a thread per worker)."""
        if not proc.stdout.readline():  # it says when it can take runs (TensorFlow imported)
            if not self.dispatcher.stopped:
                logging.warning("worker %d exited with %s before taking a run", index, proc.wait())
            return
        run = None
        while (run := self.dispatcher.next(run)) is not None:
            line = self._hand(proc, run)
            if not line:  # the worker died during this run (or was ended by a stop)
                proc.wait()
                if self.dispatcher.stopped:
                    note = "not started: the sweep was stopped"
                else:
                    note = f"its worker process exited with {proc.returncode} before this run ended"
                    logging.warning("%s: %s; the other workers go on", run.name, note)
                self.codes[run.name] = None
                self.record(run.name, None, note)
                return
            code = json.loads(line)["exit"]
            self.codes[run.name] = code
            self.record(run.name, code)
        with contextlib.suppress(OSError):
            proc.stdin.close()  # nothing left for it: the worker exits
        proc.wait()

    def _hand(self, proc, run):
        """Gives the worker one run; returns its answer line ('' when the worker died)."""
        log = os.path.join(self.logs_dir, f"{run.name}.log")
        spec = {"name": run.name, "args": list(run.args), "log": log}
        self.busy.add(proc)
        try:
            proc.stdin.write(json.dumps(spec) + "\n")
            proc.stdin.flush()
            return proc.stdout.readline()
        except (BrokenPipeError, OSError):
            return ""
        finally:
            self.busy.discard(proc)

    def stop(self, signum, frame):
        self.received.append(signal.Signals(signum).name)
        self.dispatcher.stop()
        for proc in self.workers.procs:
            with contextlib.suppress(OSError):
                if proc in self.busy:  # its run checkpoints at the next boundary, ends (exit 75)
                    proc.send_signal(signum)
                elif proc.poll() is None:  # idle, or still importing: nothing to lose
                    proc.kill()


TASK_S = 300  # what an array task aims at: minutes of runs per start-up (PROCESS_S, ~4-10 s)


def runs_per_task(runs, est, wanted=None):
    """{variant name: most runs in one array task}: `wanted` for all, else as many runs as the
    estimate (sweeps/estimate.py) fits in TASK_S, 1 for a variant of unknown time."""
    out = {}
    for run in runs:
        secs = est.seconds[run.name]
        if wanted is not None:
            out[run.variant.name] = wanted
        elif secs is None:
            out[run.variant.name] = 1
        else:
            out.setdefault(run.variant.name, max(1, int(TASK_S // max(secs, 1e-3))))
    return out


def group_runs(runs, per_task):
    """The array tasks: lists of runs of one variant in seed order, at most per_task[variant] in
    each, the variant's runs split as evenly as that allows (7 runs by 5: 3 and 4)."""
    by_variant = {}
    for run in runs:
        by_variant.setdefault(run.variant.name, []).append(run)
    tasks = []
    for name, some in by_variant.items():
        k = -(-len(some) // per_task[name])
        tasks += [some[i * len(some) // k : (i + 1) * len(some) // k] for i in range(k)]
    return tasks


def task_seconds(task, est):
    """An array task's estimated seconds (None if unknown): start-up, one trace, its runs."""
    from sweeps import estimate

    times = [est.seconds[r.name] for r in task]
    if any(t is None for t in times):
        return None
    return estimate.PROCESS_S + estimate.TRACE_S + sum(times)


def submit_slurm(tasks, out_dir, logs_dir, wait):
    """Writes <out>/tasks.json and submits slurm/sweep_array.sbatch with one array task per
    entry of `tasks` (group_runs); returns the job id."""
    out_dir = os.path.abspath(out_dir)
    plan = {
        "out": out_dir,
        "tasks": [
            [
                {"name": r.name, "args": list(r.args), "log": f"{logs_dir}/{r.name}.log"}
                for r in task
            ]
            for task in tasks
        ],
    }
    tasks_file = os.path.join(out_dir, "tasks.json")
    rundir.write_json(tasks_file, plan)
    cmd = [
        "sbatch",
        "--parsable",
        f"--array=0-{len(tasks) - 1}",
        f"--output={logs_dir}/slurm-%A_%a.out",
    ]
    if wait:
        cmd.append("--wait")
    cmd += [os.path.join(ROOT, "slurm", "sweep_array.sbatch"), tasks_file]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise UserError("--executor=slurm needs sbatch on PATH (run on a SLURM login node)") from e
    job = proc.stdout.strip().split(";")[0]
    if not job:  # --wait returns the job's exit code; a failed array task is not an error here
        raise UserError(f"sbatch failed: {proc.stderr.strip()}")
    return job
