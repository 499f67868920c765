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
from runs.exit_codes import EXIT_ERROR, EXIT_IO, EXIT_PREEMPTED, EXIT_USAGE


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


def parse(args):
    """The RunConfig of one run's train.py arguments, parsed into a FlagValues of its own (no
    state of an earlier run is left in it). Raises flags.Error or errors.UserError."""
    import options

    fv = flags.FlagValues()
    options.define_flags(fv)
    fv(["train.py", *args])
    return options.config_from_flags(fv)


def run_one(spec):
    """Trains the run `spec` describes, as `python train.py ARGS` would; returns its exit code."""
    import cli
    from training.run import train

    with output_to(spec["log"]):
        try:
            cfg = parse(spec["args"])
        except flags.Error as e:
            _say(f"train.py: error: {e}")
            return EXIT_USAGE
        except Exception as e:
            known = cli.known_error(e)
            if known is None:
                raise
            _say(f"train.py: error: {known[0]}")
            return known[1]
        try:
            return train(cfg)
        except Stopped as e:  # nothing is half-written: files are written atomically
            _say(f"train.py: {e} received outside training; rerun the sweep")
            return EXIT_PREEMPTED
        except Exception as e:  # a bug in one run must not take the other runs down
            known = cli.known_error(e)  # as train.py says it: one line and its exit code
            if known is None:
                import traceback

                traceback.print_exc()
                return EXIT_ERROR
            _say(f"train.py: error: {known[0]}")
            return known[1]
        finally:  # a run that raised must not keep its directory locked for the next ones
            from runs import rundir

            rundir.release_all()


def start(on_signal=None):
    """Loads the library (TensorFlow once) with the compiled loop reused across runs, and takes
    the stop signals: outside training they end a run being set up (Stopped); `on_signal(name)`,
    if given, is told of every one."""
    from cluster.tf_runtime import never_plots

    never_plots()  # as train.py: Keras loads without matplotlib
    from training import reuse
    from training.run import train  # noqa: F401  (TensorFlow and the library, loaded once)

    reuse.enable()  # the seeds of a variant share one compiled loop
    # What `python train.py` logs (app.run sets this up): each run's log shows its progress.
    # Each run's flags live in a FlagValues of its own; the global one holds only absl's own
    # (logging) flags, at their defaults.
    flags.FLAGS.mark_as_parsed()
    logging.set_verbosity(logging.INFO)
    logging.use_absl_handler()

    def handler(signum, frame):
        if on_signal is not None:
            on_signal(signal.Signals(signum).name)
        _stop_outside_training(signum, frame)

    preemption.install(handler)


def serve(spec):
    """Trains the run `spec` ({"name", "args", "log"}); returns its exit code."""
    _in_run[0] = True
    try:
        return run_one(spec)
    except Stopped:  # a second signal, while the run was ending
        return EXIT_PREEMPTED
    except OSError as e:  # its log could not be opened (a full disk): the run did not run
        return EXIT_IO if is_disk_full(e) else EXIT_ERROR
    finally:
        _in_run[0] = False


def main(logs_dir):
    """Serves runs from stdin until it closes. `logs_dir` names the sweep in `ps` listings."""
    del logs_dir
    start()
    try:
        print(json.dumps({"ready": True}), flush=True)  # runs may come: signals are ours now
        for line in sys.stdin:
            spec = json.loads(line)
            code = serve(spec)
            print(json.dumps({"name": spec["name"], "exit": code}), flush=True)
    except BrokenPipeError:  # the sweep is gone: its rerun picks this run up
        os._exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
