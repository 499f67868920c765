"""Runs train.py runs one after another in one process (the local sweep executor's worker).

TensorFlow's import and start-up cost ~4 s per process, more than a whole tutorial run, so each
local worker imports it once; the seeds of a variant also share one compiled training loop
(training/reuse.py). Every run gets its own flags and log file; its numbers equal those of a
standalone `python train.py` with the same flags (tested).

    python -m sweeps.worker LOGS_DIR   # stdin: one run per line, {"name", "args", "log"};
                                       # stdout: one line per run, {"name", "exit"}
"""

import contextlib
import json
import os
import sys

from absl import flags, logging

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
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def run_one(train, spec):
    from errors import UserError

    with output_to(spec["log"]):
        FLAGS.unparse_flags()
        code = None
        try:
            FLAGS(["train.py", *spec["args"]])
            logging.set_verbosity(logging.INFO)  # parsing reset it to absl's default
        except flags.Error as e:
            print(f"train.py: error: {e}", file=sys.stderr)
            code = 2
        if code is None:
            try:
                code = train.main()
            except UserError as e:
                print(f"train.py: error: {e}", file=sys.stderr)
                code = e.exit_code  # 2, or e.g. 74 for a file that could not be written
            except Exception:  # a bug in one run must not take the other runs down
                import traceback

                traceback.print_exc()
                code = 1
            finally:  # a run that raised must not keep its directory locked for the next ones
                from runs import rundir

                rundir.release_all()
    return code


def main(logs_dir):
    """Serves runs from stdin until it closes. `logs_dir` names the sweep in `ps` listings."""
    del logs_dir
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import train
    from training import reuse

    reuse.enable()  # the seeds of a variant share one compiled loop
    # What `python train.py` logs (app.run sets this up): each run's log shows its progress.
    logging.use_absl_handler()

    try:
        for line in sys.stdin:
            spec = json.loads(line)
            code = run_one(train, spec)
            print(json.dumps({"name": spec["name"], "exit": code}), flush=True)
    except BrokenPipeError:  # the sweep is gone: its rerun picks this run up
        os._exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
