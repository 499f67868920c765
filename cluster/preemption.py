"""Turns SIGTERM/SIGINT/SIGUSR1 into a request to checkpoint and exit at the next boundary."""

import os
import signal

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
EXIT_PREEMPTED = 75  # runs/exit_codes.py's, repeated: this must run before any heavy import


def exit_quietly_outside_training(program, *, when="outside training", before_exit=None):
    """Until StopRequest takes over, a stop signal ends the process with one line and exit 75
    instead of a KeyboardInterrupt traceback from whatever import runs (TensorFlow's take ~3 s).
    Nothing is half-written then (files are written atomically); rerunning the command resumes
    or starts again. A signal the parent ignores (a job started with `&`) stays ignored.
    `before_exit()`, if given, runs first (sweep.py ends its worker processes there)."""

    def stop(signum, frame):
        from cluster import tf_runtime  # TF's import may be capturing fd 2 right now

        if before_exit is not None:
            before_exit()
        name = signal.Signals(signum).name
        line = f"{program}: {name} received {when}; rerun the same command\n"
        os.write(tf_runtime.original_stderr_fd() or 2, line.encode())
        os._exit(EXIT_PREEMPTED)

    install(stop)


def install(handler):
    """`handler` for every stop signal that is not ignored (one the parent ignores stays
    ignored); returns {signal: the handler it replaced}, for restoring them."""
    return {
        s: signal.signal(s, handler) for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN
    }


class StopRequest:
    """Context manager: while active, the signals above set `.received` instead of killing us."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name

    def __enter__(self):
        for s in SIGNALS:
            self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False
