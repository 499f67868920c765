"""Errors that end train.py (and sweep.py, report.py) with one line and a documented exit code.

cli.run prints `prog: error: <message>` and exits with the exception's `exit_code`; no traceback.
Every class here is a UserError, so code that only knows UserError (cli.known_error, which the
sweep worker uses too) still reports them as one line.
"""

import errno
import re

from runs.exit_codes import EXIT_IO, EXIT_USAGE

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# How TensorFlow's C++ file system words ENOSPC/EDQUOT in its error messages.
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


class UserError(Exception):
    """Bad input (a flag, a data file, a device, a run directory): say what and how to fix it."""

    exit_code = EXIT_USAGE


def not_utf8_text(error):
    """What a UnicodeDecodeError from absl's reading of a flagfile means, and what to do."""
    return f"not UTF-8 text (byte {error.start}: {error.reason}); save it as plain UTF-8 text"


class RunDirBusy(UserError):
    """Another process holds the run directory's lock (it is training into it)."""


class CheckpointsUnreadable(UserError):
    """A run directory holds checkpoints, but none of them can be restored."""


class WriteError(UserError):
    """A file of a run could not be written (disk full, quota, I/O error, permissions).

    `what` names the file, `reason` says why, `hint` what to do; `disk_full` tells ENOSPC/EDQUOT
    apart from the other causes.
    """

    exit_code = EXIT_IO

    def __init__(self, what, reason, hint, *, disk_full=False):
        super().__init__(f"cannot write {what}: {reason}; {hint}")
        self.what = what
        self.reason = reason
        self.hint = hint
        self.disk_full = disk_full


def is_disk_full(exc):
    """True for OSError ENOSPC/EDQUOT and for TensorFlow errors that report them."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    message = getattr(exc, "message", None) or str(exc)
    return _is_tf_error(exc) and any(text in message for text in DISK_FULL_TEXTS)


def _is_tf_error(exc):
    return any(
        cls.__module__.startswith("tensorflow") and cls.__name__ == "OpError"
        for cls in type(exc).__mro__
    )


def reason_of(exc):
    """A short reason for a failed write: 'no space left on device', or the error's first line."""
    if is_disk_full(exc):
        if (isinstance(exc, OSError) and exc.errno == errno.EDQUOT) or "quota" in str(exc):
            return "disk quota exceeded"
        return "no space left on device"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = re.sub(r"\{\{[^}]*\}\}", "", getattr(exc, "message", None) or str(exc))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}".rstrip(": ")
