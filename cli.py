"""Entry-point glue of train.py, sweep.py and report.py: errors are one line and an exit code.

- a bad flag, a UserError: `prog: error: ...`, exit 2 (errors.py's subclasses carry their own
  code: 74 for a file that could not be written);
- a full disk anywhere else (a TensorBoard event write inside the compiled loop raises
  tf.errors.ResourceExhaustedError): the same one line as a failed checkpoint write, exit 74;
- --help, -h, --helpshort, --helpfull: the help on stdout, exit 0. With `help_text` (train.py:
  its flags in groups), --help, -h and --helpshort print that, before any flag is parsed (so a
  bad flag beside them does not matter); --helpfull stays absl's: every module's flags.

The process then ends without the interpreter's teardown (exit_fast).
"""

import ast
import contextlib
import os
import re
import sys
import threading

from absl import app, flags

import framework_internals
from errors import UserError, is_disk_full, not_utf8_text
from runs.exit_codes import EXIT_OK, EXIT_USAGE

HELP_ARGS = ("-h", "-?", "--help", "-help", "--helpshort", "-helpshort")


def run(main, help_text=None):
    """app.run(main), where a bad flag or a UserError prints `prog: error: ...` and exits.

    `help_text`: a callable returning the text --help, -h and --helpshort print (exit 0)."""
    prog = os.path.basename(sys.argv[0])
    sys.stdout = ReaderMayLeave(sys.stdout)
    if help_text is not None and asks_for_help(sys.argv):
        text = help_text()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        sys.exit(EXIT_OK)

    def parse_flags(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:  # absl would dump the usage text; one line says enough
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        except UnicodeDecodeError as e:  # absl reads a --flagfile as UTF-8 text
            given = [a.split("=", 1)[-1] for a in argv if a.startswith("--flagfile")]
            print(
                f"{prog}: error: --flagfile {', '.join(given)}: {not_utf8_text(e)}", file=sys.stderr
            )
            sys.exit(EXIT_USAGE)
        except SystemExit as e:
            # absl's help flags print the help and exit 1 (--only_check_flags: 0): asking for
            # help is not an error.
            sys.exit(EXIT_OK if e.code in (None, 0, 1) else e.code)

    def checked_main(argv):
        if len(argv) > 1:
            print(
                f"{prog}: error: unexpected arguments {argv[1:]}; flags look like --name=value",
                file=sys.stderr,
            )
            sys.exit(EXIT_USAGE)
        try:
            sys.exit(main())
        except Exception as e:
            known = known_error(e)
            if known is None:
                raise
            message, code = known
            print(f"{prog}: error: {message}", file=sys.stderr)
            sys.exit(code)

    try:
        app.run(checked_main, argv=_with_long_help(sys.argv), flags_parser=parse_flags)
    except SystemExit as e:
        exit_fast(e.code)


def known_error(exc):
    """(one-line message, exit code) for an error that ends a run without a traceback: a
    UserError, or a full disk met outside our own writers; None for anything else (a bug)."""
    if isinstance(exc, UserError):
        return _one_line(exc), exc.exit_code
    if is_disk_full(exc):
        err = disk_full_error(exc)
        return _one_line(err), err.exit_code
    return None


def exit_fast(code):
    """sys.exit(code), minus the interpreter's teardown of TensorFlow's objects and modules
    (~1.7 s a process, measured): the other threads are joined and the exit handlers run (log
    handlers flushed, temporary directories removed) as on a normal exit, then the process ends.
    Every file of a run is closed or flushed by then: checkpoints, metrics.json and models are
    written whole, and each TensorBoard write is flushed. A non-integer code (a message) takes
    the normal way out."""
    if code is not None and not isinstance(code, int):
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    framework_internals.run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that left (`| true`), closed
            stream.flush()
    os._exit(code or 0)


class ReaderMayLeave:
    """stdout whose reader may leave (`train.py | head -2`, `report.py --help | head -1`): once
    the pipe is closed, the output goes to /dev/null and the program goes on, so a run still
    finishes and writes its results, and its exit code stays its own; no BrokenPipeError."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._leave()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._leave()

    def _leave(self):
        # /dev/null in place of the pipe under file descriptor 1 too: what the stream still
        # buffers, and the interpreter's own flush at exit, then go nowhere without an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, self._stream.fileno())
        os.close(devnull)
        self._stream = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)

    def __getattr__(self, name):  # isatty, fileno, encoding, ...
        return getattr(self._stream, name)


def asks_for_help(argv):
    """Whether the command line asks for the short help (arguments after `--` do not count)."""
    for arg in argv[1:]:
        if arg == "--":
            return False
        if arg in HELP_ARGS:
            return True
    return False


def _with_long_help(argv):
    """`-h` means --help (absl knows only --help and -?); arguments after `--` are left alone."""
    out = list(argv[:1])
    for i, arg in enumerate(argv[1:], 1):
        if arg == "--":
            return out + list(argv[i:])
        out.append("--help" if arg == "-h" else arg)
    return out


def _one_line(exc):
    text = " ".join(str(exc).split("\n")).strip()
    text = text.removeprefix("ERROR:: ")  # absl's prefix for a flagfile it cannot open
    # A list flag's validator error shows the parsed list ("--layers=['-1']"): show it as typed.
    m = re.match(r"flag --(\w+)=(\[.*?\]): (.*)", text)
    if m:
        with contextlib.suppress(ValueError, SyntaxError):
            items = ast.literal_eval(m.group(2))
            text = f"flag --{m.group(1)}={','.join(map(str, items))}: {m.group(3)}"
    return text


def disk_full_error(exc):
    """A WriteError for a disk-full error raised outside our own writers (TensorBoard events)."""
    from runs import rundir

    path = getattr(exc, "filename", None)
    if not path:
        m = re.search(r"([^\s;:]+?)(?:\.tempstate\d+)?; (?:No space left|Disk quota)", str(exc))
        path = m.group(1) if m else None
    if path and "tfevents" in os.path.basename(path):
        what = f"the TensorBoard events file {path}"
    elif path:
        what = path
    else:
        what = "a file of the run"
    run_dir = rundir.current()
    return rundir.write_error(what, exc, run_dir=run_dir)
