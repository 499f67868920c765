"""Runs train.py runs one after another in one process (the local sweep executor's worker; a
SLURM array task of a sweep does the same, sweeps/array_task.py).

TensorFlow's import and start-up cost ~4 s per process, more than a whole tutorial run, so each
local worker imports it once; the seeds of a variant also share one compiled training loop
(training/reuse.py). Every run gets its own flags and log file; its numbers equal those of a
standalone `python train.py` with the same flags (tested).

    python -m sweeps.worker LOGS_DIR   # stdout: {"ready": true} once it can take runs;
                                       # stdin: one run per line, {"name", "args", "log"};
                                       # stdout: one line per run, {"name", "exit"}
"""

import contextlib
import json
import os
import signal
import sys

from absl import flags, logging

from cluster import preemption
from errors import is_disk_full
from runs.exit_codes import EXIT_ERROR, EXIT_IO, EXIT_PREEMPTED

FLAGS = flags.FLAGS


@contextlib.contextmanager
def output_to(path):
    """Sends this process's stdout and stderr (fds 1 and 2) to `path` for the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # a log on a full disk: its tail is lost
                sys.stdout.flush()
                sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


class Stopped(Exception):
    """A stop signal the sweep passed on while its run was not training (being set up, or
    writing its results): the run ends there, as a preempted one (exit 75)."""


_in_run = [False]


def _stop_outside_training(signum, frame):
    # Inside training, train.py's own handler (cluster/preemption.StopRequest) takes over: the
    # run checkpoints and ends with exit 75. Between runs (the sweep passes signals only to
    # workers in a run, but one may arrive as a run ends) there is nothing to stop.
    if _in_run[0]:
        raise Stopped(signal.Signals(signum).name)


def _say(line):
    """A line to the run's log, which may be on the disk that just filled up."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def run_one(train, spec):
    import cli

    with output_to(spec["log"]):
        FLAGS.unparse_flags()
        code = None
        try:
            FLAGS(["train.py", *spec["args"]])
            logging.set_verbosity(logging.INFO)  # parsing reset it to absl's default
        except flags.Error as e:
            _say(f"train.py: error: {e}")
            code = 2
        if code is None:
            try:
                code = train.main()
            except Stopped as e:  # nothing is half-written: files are written atomically
                _say(f"train.py: {e} received outside training; rerun the sweep")
                code = EXIT_PREEMPTED
            except Exception as e:  # a bug in one run must not take the other runs down
                known = cli.known_error(e)  # as train.py says it: one line and its exit code
                if known is None:
                    import traceback

                    traceback.print_exc()
                    code = EXIT_ERROR
                else:
                    message, code = known
                    _say(f"train.py: error: {message}")
            finally:  # a run that raised must not keep its directory locked for the next ones
                from runs import rundir

                rundir.release_all()
    return code


def start(on_signal=None):
    """Imports train.py with the compiled loop reused across runs, and takes the stop signals:
    outside training they end a run being set up (Stopped); `on_signal(name)`, if given, is told
    of every one. Returns the train module."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import train
    from training import reuse

    reuse.enable()  # the seeds of a variant share one compiled loop
    # What `python train.py` logs (app.run sets this up): each run's log shows its progress.
    logging.use_absl_handler()

    def handler(signum, frame):
        if on_signal is not None:
            on_signal(signal.Signals(signum).name)
        _stop_outside_training(signum, frame)

    preemption.install(handler)
    return train


def serve(train, spec):
    """Trains the run `spec` ({"name", "args", "log"}); returns its exit code."""
    _in_run[0] = True
    try:
        return run_one(train, spec)
    except Stopped:  # a second signal, while the run was ending
        return EXIT_PREEMPTED
    except OSError as e:  # its log could not be opened (a full disk): the run did not run
        return EXIT_IO if is_disk_full(e) else EXIT_ERROR
    finally:
        _in_run[0] = False


def main(logs_dir):
    """Serves runs from stdin until it closes. `logs_dir` names the sweep in `ps` listings."""
    del logs_dir
    train = start()
    try:
        print(json.dumps({"ready": True}), flush=True)  # runs may come: signals are ours now
        for line in sys.stdin:
            spec = json.loads(line)
            code = serve(train, spec)
            print(json.dumps({"name": spec["name"], "exit": code}), flush=True)
    except BrokenPipeError:  # the sweep is gone: its rerun picks this run up
        os._exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
