"""One process per run directory: an exclusive flock on `<run_dir>/.lock`.

The kernel drops the lock when its holder exits, however it exits (SIGKILL, node crash on a local
disk), so a dead run never blocks a rerun. The file holds the holder's host, PID and start time
(written after locking), for the message the next process prints. It is removed on release and
at normal exit; a leftover file (after a kill) is harmless: only a held lock blocks.

A process that holds a lock and calls acquire() again for the same directory keeps it (a sweep
worker runs many runs one after another in one process).
"""

import atexit
import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import time

from absl import logging

from errors import RunDirBusy

LOCK_NAME = ".lock"

_held = {}  # realpath of a run directory -> (fd, lock path)


def acquire(run_dir):
    """Locks `run_dir` (which must exist) for this process, or raises RunDirBusy.

    Raises OSError when the lock file cannot be created (read-only or full file system). On a
    file system without flock support it warns and goes on unlocked.
    """
    key = os.path.realpath(run_dir)
    if key in _held:
        return
    path = os.path.join(run_dir, LOCK_NAME)
    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            _flock_retrying(fd, fcntl.LOCK_EX)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RunDirBusy(_busy(run_dir, holder)) from None
            logging.warning(
                "cannot lock %s (%s); going on without a lock: do not start two runs on this "
                "directory at once",
                path,
                e.strerror,
            )
            return
        # The holder may have removed the file between our open and our flock (release() unlinks
        # it): then we locked an orphan inode, and must lock the file now at `path` instead.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:  # pragma: no cover - another process removes and recreates the file in a tight loop
        raise RunDirBusy(f"run directory {run_dir}: cannot take its lock {path}; try again")
    _held[key] = (fd, path)
    _record_holder(fd)


def check_free(run_dir):
    """Raises RunDirBusy when another process holds `run_dir`'s lock. Takes no lock (a shared
    lock for an instant: a process acquiring at that moment retries), creates nothing."""
    if held(run_dir):
        return
    try:
        fd = os.open(os.path.join(run_dir, LOCK_NAME), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # no lock file: no holder
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise RunDirBusy(_busy(run_dir, _read_holder(fd))) from None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _busy(run_dir, holder):
    return (
        f"run directory {run_dir} is in use by another process ({holder}); wait for it to end, "
        "or pass another --run_name"
    )


def _flock_retrying(fd, operation, tries=4, pause=0.05):
    """flock without blocking, tried a few times: check_free() holds a shared lock for an
    instant, which must not make a starting run give up."""
    for i in range(tries):
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or i == tries - 1:
                raise
            time.sleep(pause)


def release(run_dir):
    """Releases this process's lock on `run_dir` (no-op when it holds none) and removes the file."""
    entry = _held.pop(os.path.realpath(run_dir), None)
    if entry is None:
        return
    fd, path = entry
    with contextlib.suppress(OSError):
        os.unlink(path)  # while still locked: see the samestat check in acquire()
    os.close(fd)


def release_all():
    for key in list(_held):
        release(key)


def held(run_dir):
    return os.path.realpath(run_dir) in _held


atexit.register(release_all)


def _record_holder(fd):
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    text = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started})
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (text + "\n").encode(), 0)
    except OSError:  # a full disk: the lock holds anyway; the message just lacks the holder
        pass


def _read_holder(fd):
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {info['pid']} on host {info['host']}, since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "it has not recorded its host and pid yet"
