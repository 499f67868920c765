"""train.py --help kept in a per-user cache, so help does not import TensorFlow (~4 s).

The flags are defined by options.py and the regularizer plug-ins, which import TensorFlow. The
first --help builds the text that way and stores it under a key hashed from those source files,
Python's and absl's versions; later calls read it back (~0.1 s). Any edit of those files changes
the key, so a stale text is never shown. The cache is $XDG_CACHE_HOME/regstudy (default
~/.cache/regstudy); when it cannot be written, help is simply built each time.
"""

import glob
import hashlib
import os
import sys

from errors import UserError
from runs import rundir

ROOT = os.path.dirname(os.path.abspath(__file__))
# The files whose code defines train.py's flags and their help.
SOURCES = ("options.py", "flagdef.py", "*/flags.py", "help_cache.py", "regularizers/*.py")


def _key(program):
    import absl

    digest = hashlib.sha256(f"{program}\0{sys.version}\0{absl.__file__}".encode())
    for pattern in SOURCES:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path, "rb") as f:
                digest.update(os.path.relpath(path, ROOT).encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "regstudy")


def train_help():
    """train.py --help."""

    def build():
        from absl import flags

        import options

        fv = flags.FlagValues()
        options.define_flags(fv)
        return options.help_text(fv)

    return text("train.py", build)


def text(program, build):
    """The help of `program`: from the cache, else build() (which may import TensorFlow),
    stored for next time."""
    path = os.path.join(cache_dir(), f"{program}-help-{_key(program)}.txt")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        pass
    result = build()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rundir.write_text(path, result)
    except (OSError, UserError):  # rundir.write_text's WriteError
        pass  # a read-only home: the help is still printed
    return result
