"""A sweep's progress as its runs end: n of N done, the time left, each run's main metric, and
each failure as it happens (one line each, on stderr)."""

import sys
import threading
import time

from sweeps import estimate, status

MAIN_METRIC = "test_accuracy"  # report.py's default --metric


class Progress:
    def __init__(self, out, runs, est=None, stream=None):
        self.out = out
        self.runs = {r.name: r for r in runs}
        self.est = est
        self.stream = stream or sys.stderr
        self.ended = []  # run names, in the order they ended
        self.ended_at = []  # and when (time.time())
        self.failed = 0
        self.lock = threading.Lock()

    def _left(self):
        """Seconds left: the wall time since the first run ended, scaled by the estimated work
        left over the work done since (by the run count where no estimate is known). The first
        run's time is left out: it carries the workers' start-up (TensorFlow's import, the
        first trace), which the later runs of a worker do not pay."""
        left = [n for n in self.runs if n not in set(self.ended)]
        if not left:
            return 0.0

        def work(names):
            secs = [self.est.seconds.get(n) for n in names] if self.est else [None]
            return sum(secs) if None not in secs else len(names)

        done = work(self.ended[1:])
        if not done:  # one run ended: nothing measured past the start-up yet
            return None
        return (self.ended_at[-1] - self.ended_at[0]) * work(left) / done

    def line(self, name, code, note=None):
        """The line for run `name`, which just ended with exit `code`."""
        o = status.outcome(self.out, name)
        run = self.runs[name]
        with self.lock:
            self.ended.append(name)
            self.ended_at.append(time.time())
            self.failed += o.status != "finished"
            n, total, left = len(self.ended), len(self.runs), self._left()
        fails = f" ({self.failed} not finished)" if self.failed else ""
        head = f"sweep: {n} of {total} done{fails}, ~{estimate.duration(left)} left"
        who = f"{run.variant.name} seed {run.seed}"
        if o.status == "finished":
            value = (o.metrics or {}).get("final", {}).get(MAIN_METRIC)
            shown = f"{MAIN_METRIC} {value:.4f}" if isinstance(value, float) else "finished"
            secs = (o.metrics or {}).get("wall_time_s")
            took = f" in {secs:.1f} s" if isinstance(secs, float | int) else ""
            return f"{head} | {who}: {shown}{took}"
        code_text = "-" if o.exit is None else o.exit
        return f"{head} | {who}: {o.status.upper()} exit {code_text}: {note or o.error} ({o.log})"

    def report(self, name, code, note=None):
        print(self.line(name, code, note), file=self.stream, flush=True)
