"""What became of a sweep's runs: status, exit code and the last error line of their logs.

metrics.json says finished, diverged or preempted; a run that died before writing it is known by
the exit code the sweep recorded in <out>/status/<run>.json (local executor) or by the line
slurm/common.sh ends its log with (SLURM executor).
"""

import contextlib
import dataclasses
import os
import re

from runs import rundir

# Exit codes implied by a metrics.json status when none was recorded (runs/exit_codes.py).
STATUS_EXIT = {"finished": 0, "diverged": 3, "preempted": 75}
SLURM_EXIT = re.compile(r"train\.py exited with (\d+)")
ERROR = re.compile(r"error|exception|killed|not found", re.IGNORECASE)


@dataclasses.dataclass
class Outcome:
    status: str  # finished, diverged, preempted, failed (exited without metrics), missing,
    # unreadable (a metrics.json that cannot be read)
    exit: int | None
    error: str  # the log's last error line ('' when finished)
    log: str  # path relative to the sweep directory
    metrics: dict | None


def _path(out_dir, name):
    return os.path.join(out_dir, "status", f"{name}.json")


def record(out_dir, name, **fields):
    """Stores what the executor knows about a run (exit code, log), atomically."""
    os.makedirs(os.path.join(out_dir, "status"), exist_ok=True)
    rundir.write_json(_path(out_dir, name), fields)


def forget(out_dir, name):
    """Drops a run's record before it runs again."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(_path(out_dir, name))


def _tail(path, size=65536):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - size))
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _clip(text, size=300):
    """`text` as one line of at most `size` characters (the tables' error column)."""
    text = " ".join(str(text).split())
    return text if len(text) <= size else text[: size - 3] + "..."


def last_error_line(lines):
    """The last line that reads like an error, else the last line; at most 300 characters."""
    lines = [ln.strip() for ln in lines if ln.strip() and not SLURM_EXIT.search(ln)]
    errors = [ln for ln in lines if ERROR.search(ln) and not ln.startswith("Traceback")]
    return _clip((errors or lines or [""])[-1])


def outcome(out_dir, name):
    unreadable = None  # a metrics.json that exists but cannot be read: why
    path = os.path.join(out_dir, "runs", name, "metrics.json")
    try:
        metrics = rundir.read_json(path)
    except (OSError, ValueError) as e:
        metrics = None
        if os.path.exists(path):
            unreadable = _clip(f"runs/{name}/metrics.json is unreadable ({e})")
    try:
        rec = rundir.read_json(_path(out_dir, name))
    except (OSError, ValueError):
        rec = {}
    log = rec.get("log", os.path.join("logs", f"{name}.log"))
    lines = _tail(os.path.join(out_dir, log))
    code = rec.get("exit")
    if code is None:
        codes = [int(m.group(1)) for m in map(SLURM_EXIT.search, lines) if m]
        code = codes[-1] if codes else None
    status = (metrics or {}).get("status", "missing")
    if status not in ("finished", "diverged") and code not in (None, 0, STATUS_EXIT["preempted"]):
        status = "failed"  # the latest attempt died, whatever an earlier one left behind
    if code is None:
        code = STATUS_EXIT.get(status)
    error = "" if status == "finished" else last_error_line(lines)
    if status == "missing" and rec.get("note"):
        error = rec["note"]
    if unreadable and status == "missing":
        status, error = "unreadable", unreadable
    return Outcome(status, code, error, log, metrics)
