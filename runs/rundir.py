"""Run directories: naming, locking, refusing to clobber, resuming, and atomic files.

A run directory is a *run* once it holds an epoch's worth of progress: a checkpoint of an epoch
after 0, or a metrics.json. A directory without progress (a crash before the first periodic
checkpoint, a run whose config.json is unreadable) is started afresh whatever its config.json
says. The decision is taken under the directory's lock (runs/lock.py), so two processes started
at once cannot both pass it.
"""

import contextlib
import json
import os
import re
import secrets
import shutil

from absl import logging

from errors import UserError, WriteError, is_disk_full, reason_of
from runs import lock

FINAL_STATUSES = ("finished", "diverged")
CHECKPOINT_DIR = "checkpoints"
_CKPT_INDEX = re.compile(r"ckpt-(\d+)\.index")
_CKPT_FILE = re.compile(r"ckpt-(\d+)\.(index|data-)")
# What a run writes into its directory: removed when a directory without progress is reused.
_RUN_FILES = ("config.json", "metrics.json")
_RUN_DIRS = (CHECKPOINT_DIR, "train", "val", "model")  # model/: runs/export.py
_RUN_PREFIXES = ("events.out.tfevents.", ".tmp-")

_current = None  # the run directory prepare() returned last (for error messages)


def current():
    """The run directory of this process's current run (set by prepare()), or None."""
    return _current


# ---- files --------------------------------------------------------------------------------


def write_text(path, text):
    """Writes a file atomically: a reader sees the old file or the new one, never half of one.

    The file's mode follows the umask, as open() would make it. Raises WriteError (disk full,
    I/O error, permissions), after removing the temporary file.
    """
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".tmp-{os.path.basename(path)}-{secrets.token_hex(6)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            _remove(tmp)
            raise
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        run_dir = _current if _current and _inside(path, _current) else None
        raise write_error(_describe(path), e, run_dir=run_dir) from e
    _fsync_dir(directory)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def _remove(path):
    with contextlib.suppress(OSError):
        os.unlink(path)


def _fsync_dir(directory):
    """Makes a rename durable; best effort (not every file system lets a directory be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _inside(path, directory):
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return os.path.commonpath([path, directory]) == directory


def _describe(path):
    return f"{os.path.basename(path)} in {os.path.dirname(path) or '.'}"


# ---- write failures -----------------------------------------------------------------------


def checkpoint_epochs(run_dir):
    """Epochs of the complete-looking checkpoints in `run_dir` (an index and a data file)."""
    directory = os.path.join(run_dir, CHECKPOINT_DIR)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    epochs = []
    for name in names:
        m = _CKPT_INDEX.fullmatch(name)
        if m and any(n.startswith(f"ckpt-{m.group(1)}.data-") for n in names):
            epochs.append(int(m.group(1)))
    return sorted(epochs)


def newest_checkpoint_epoch(run_dir, exclude=None):
    epochs = [e for e in checkpoint_epochs(run_dir) if e != exclude]
    return epochs[-1] if epochs else None


def write_error(what, exc, *, run_dir=None, failed_epoch=None):
    """A WriteError for a failed write of `what`; with `run_dir` (the run it belongs to) its
    hint names that run's last good checkpoint, which a rerun resumes from."""
    disk_full = is_disk_full(exc)
    reason = reason_of(exc)
    fix = "free space" if disk_full else "fix the file system"
    if "quota" in reason:
        fix = "free space (or raise the quota)"
    if run_dir is None:
        return WriteError(what, reason, f"{fix} and rerun", disk_full=disk_full)
    epoch = newest_checkpoint_epoch(run_dir, exclude=failed_epoch)
    where = os.path.join(run_dir, CHECKPOINT_DIR)
    if not epoch:  # none, or only the initial state: a rerun starts the run afresh
        hint = f"no epoch was checkpointed yet: {fix} and rerun the same command to start over"
    else:
        hint = (
            f"the last good checkpoint is at epoch {epoch} (in {where}): {fix} and rerun the "
            "same command to resume from it"
        )
    return WriteError(what, reason, hint, disk_full=disk_full)


# ---- TensorBoard event files ----------------------------------------------------------------


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def _masked_crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _complete_records_end(path):
    """Where the last complete TFRecord of `path` ends (its size when none is torn)."""
    size = os.path.getsize(path)
    end = 0
    with open(path, "rb") as f:
        while end < size:
            header = f.read(12)
            if len(header) < 12:
                break
            length = int.from_bytes(header[:8], "little")
            if int.from_bytes(header[8:], "little") != _masked_crc32c(header[:8]):
                break
            if end + 12 + length + 4 > size:
                break
            end += 12 + length + 4
            f.seek(end)
    return end


def repair_event_files(run_dir):
    """Cuts a record torn by an interrupted write (a kill, a full disk) from the end of the
    run's TensorBoard event files, so that every reader reads them to the end."""
    for sub in ("", "train", "val"):
        directory = os.path.join(run_dir, sub)
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if not name.startswith("events.out.tfevents."):
                continue
            path = os.path.join(directory, name)
            try:
                end, size = _complete_records_end(path), os.path.getsize(path)
                if end < size:
                    os.truncate(path, end)
                    logging.warning(
                        "cut %d bytes of a record torn by the interrupted run from %s",
                        size - end,
                        path,
                    )
            except OSError as e:
                logging.warning("cannot check %s (%s)", path, e.strerror)


# ---- run directories ----------------------------------------------------------------------


def _first_difference(old, new):
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"--{key}: {old.get(key)!r} there, {new.get(key)!r} now"
    return None


def _has_progress(path):
    """True when `path` holds a metrics.json or a file of a checkpoint after epoch 0 (even a
    broken one: that is for restore_latest() to judge, and to report)."""
    if os.path.exists(os.path.join(path, "metrics.json")):
        return True
    try:
        names = os.listdir(os.path.join(path, CHECKPOINT_DIR))
    except OSError:
        return False
    return any((m := _CKPT_FILE.match(n)) and int(m.group(1)) > 0 for n in names)


def _read_run_file(path, name):
    """A JSON file of the run directory: (value, None), or (None, 'why it is unreadable')."""
    try:
        value = read_json(os.path.join(path, name))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) else f"not valid JSON: {e}"
        return None, why
    if not isinstance(value, dict):
        return None, "not a JSON object"
    return value, None


def _unreadable(path, name, why):
    return UserError(
        f"run directory {path}: its {name} is unreadable ({why}); move the run directory "
        "away, or pass another --run_name"
    )


def _decide(cfg, path):
    """(resuming, reason to start afresh or None) for the directory at `path`; raises UserError
    for a finished run, a run with other flags, or a run whose files cannot be read."""
    metrics, why = _read_run_file(path, "metrics.json")
    if why:
        raise _unreadable(path, "metrics.json", why)
    if metrics is not None and metrics.get("status") in FINAL_STATUSES:
        raise UserError(
            f"run directory {path} already holds a {metrics['status']} run; pass another "
            "--run_name or move that directory away"
        )
    progress = _has_progress(path)
    old, why = _read_run_file(path, "config.json")
    if not progress:
        if why:
            return False, f"its config.json is unreadable ({why}) and it holds no finished epoch"
        if old is not None:
            return False, "it holds no finished epoch of an earlier run"
        return False, None
    if why:
        raise _unreadable(path, "config.json", why)
    if old is None:
        raise UserError(
            f"run directory {path} holds checkpoints but no config.json, so it cannot be "
            "resumed; move it away, or pass another --run_name"
        )
    identity = cfg.trained_identity()
    # A flag added after the run was made counts as its default there.
    defaults = getattr(cfg, "defaults", {})
    old_identity = {k: old.get(k, defaults.get(k)) for k in identity}
    diff = _first_difference(old_identity, identity)
    if diff:
        raise UserError(
            f"run directory {path} holds a run with other flags ({diff}); pass "
            "another --run_name to start a new run"
        )
    return True, None


def _clear(path):
    """Removes what a run writes (not other files, not the lock) from `path`."""
    removed = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if not (name in _RUN_FILES or name in _RUN_DIRS or name.startswith(_RUN_PREFIXES)):
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)
        removed.append(name)
    return removed


def _check_can_create(path):
    """The nearest existing ancestor of `path` must be a directory we may write into."""
    parent = path
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    parent = parent or "."
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        what = "not a directory" if not os.path.isdir(parent) else "not writable"
        raise UserError(
            f"cannot write the run directory {path} ({parent} is {what}); pass a writable --logdir"
        )


def prepare(cfg, run_name, *, create, check_busy=False):
    """Returns (run_dir, resuming). Refuses a directory that holds a finished or other run, or
    that another process is training into.

    With create=True (the chief) the directory is created and locked (until release() or the
    process's exit) before anything in it is read; a directory without progress is emptied of
    an earlier run's files. With create=False (a non-chief worker, or an early check) nothing is
    written or locked; check_busy=True then also refuses a directory another process holds (not
    for non-chief workers: their chief holds it).
    """
    global _current
    path = os.path.join(cfg.logdir, run_name)
    if not create:
        if check_busy:
            _check_can_create(path)
            lock.check_free(path)
        resuming, _ = _decide(cfg, path)
        _current = path
        return path, resuming
    try:
        try:
            os.makedirs(path, exist_ok=True)
            lock.acquire(path)
        except OSError as e:
            raise write_error(f"the run directory {path}", e) from e
        _current = path
        resuming, fresh_reason = _decide(cfg, path)
        if fresh_reason:
            try:
                removed = _clear(path)
            except OSError as e:
                raise write_error(f"the run directory {path}", e) from e
            logging.warning(
                "run directory %s: %s; starting afresh (removed %s)",
                path,
                fresh_reason,
                ", ".join(removed) or "nothing",
            )
        if resuming:
            repair_event_files(path)
        write_json(os.path.join(path, "config.json"), cfg.values)
    except WriteError as e:
        release(path)
        if e.disk_full:
            raise
        raise UserError(
            f"cannot write the run directory {path} ({e.reason}); pass a writable --logdir"
        ) from e
    except BaseException:
        release(path)
        raise
    return path, resuming


def release(run_dir):
    """Ends this process's claim on `run_dir` (its lock); call it when the run is over."""
    lock.release(run_dir)  # _current stays: an error raised on the way out still names it


def release_all():
    """Releases every run directory this process holds (a sweep worker, after each run)."""
    global _current
    lock.release_all()
    _current = None
