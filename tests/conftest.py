"""Shared test helpers: run train.py as a user would (a subprocess) or in-process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_train(*args, env=None, timeout=300, check=None):
    """Runs `python train.py ARGS`; returns the CompletedProcess (text stdout/stderr)."""
    full_env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", **(env or {})}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check is not None and proc.returncode != check:
        raise AssertionError(
            f"train.py exited {proc.returncode}, wanted {check}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def read_metrics(run_dir):
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def read_scalars(run_dir, cut_records_end_a_file=False):
    """{tag: [(step, value)]} from the event files of a run's TensorBoard writer at `run_dir`.

    With `cut_records_end_a_file`, a record cut short (being written, or by a kill) ends its
    file's events instead of failing.
    """
    import tensorflow as tf

    out = {}
    for path in sorted(Path(run_dir).glob("events.out.tfevents*")):
        try:
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for v in event.summary.value:
                    if v.WhichOneof("value") == "simple_value":
                        out.setdefault(v.tag, []).append((event.step, v.simple_value))
        except tf.errors.DataLossError:
            if not cut_records_end_a_file:
                raise
    return out


@pytest.fixture
def logdir(tmp_path):
    return tmp_path / "logs"


def kill_after_checkpoint(args, run_dir, epoch, timeout=120):
    """Starts `train.py ARGS`, SIGKILLs it once `run_dir` holds the checkpoint of `epoch`."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    index = Path(run_dir) / "checkpoints" / f"ckpt-{epoch}.index"
    deadline = time.time() + timeout
    while not index.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert index.exists(), f"train.py ended or stalled before its checkpoint at epoch {epoch}"
