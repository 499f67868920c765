"""Run directories: naming, refusing to clobber, resuming, and atomic JSON files."""

import json
import os
import tempfile

from errors import UserError

FINAL_STATUSES = ("finished", "diverged")


def write_text(path, text):
    """Writes a file atomically: a reader sees the old file or the new one, never half of one."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def _first_difference(old, new):
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"--{key}: {old.get(key)!r} there, {new.get(key)!r} now"
    return None


def prepare(cfg, run_name, *, create):
    """Returns (run_dir, resuming). Refuses a directory that holds a finished or other run.

    With create=False (a non-chief worker) nothing is written.
    """
    path = os.path.join(cfg.logdir, run_name)
    metrics_path = os.path.join(path, "metrics.json")
    config_path = os.path.join(path, "config.json")
    if os.path.exists(metrics_path):
        status = read_json(metrics_path).get("status")
        if status in FINAL_STATUSES:
            raise UserError(
                f"run directory {path} already holds a {status} run; pass another "
                "--run_name or move that directory away"
            )
    resuming = os.path.exists(config_path)
    if resuming:
        old = read_json(config_path)
        old_identity = {k: v for k, v in old.items() if k in cfg.trained_identity()}
        diff = _first_difference(old_identity, cfg.trained_identity())
        if diff:
            raise UserError(
                f"run directory {path} holds a run with other flags ({diff}); pass "
                "another --run_name to start a new run"
            )
    if not create:
        return path, resuming
    try:
        os.makedirs(path, exist_ok=True)
        write_json(config_path, cfg.values)
    except OSError as e:
        raise UserError(
            f"cannot write the run directory {path} ({e.strerror}); pass a writable --logdir"
        ) from e
    return path, resuming
