"""Checkpoints, preemption and resume: identical continuation, signals, NaN rollback."""

import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, read_metrics, run_train

# Dropout + BatchNorm + L2, Adam (slot variables and iteration count), several steps per epoch.
ARGS = [
    "--reg=dropout,batchnorm,l2",
    "--all_layers",
    "--dropout_rate=0.2",
    "--epochs=800",
    "--batch_size=32",
    "--checkpoint_every=25",
    "--optimizer=adam",
    "--learning_rate=0.001",
    "--log_every=0",
]


def _start(logdir, run_name):
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "train.py"),
            *ARGS,
            f"--logdir={logdir}",
            f"--run_name={run_name}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_checkpoint(logdir, run_name, epoch, proc):
    index = logdir / run_name / "checkpoints" / f"ckpt-{epoch}.index"
    deadline = time.time() + 120
    while not index.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


def _assert_same_run(a, b):
    for key in ("final", "history", "weights", "best_epoch", "epochs_completed", "measures"):
        assert a[key] == b[key], key  # bitwise: exact equality of every float


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("full")
    run_train(*ARGS, f"--logdir={logdir}", "--run_name=full", check=0)
    return read_metrics(logdir / "full")


def test_sigkill_then_resume_is_bitwise_identical(logdir, uninterrupted):
    proc = _start(logdir, "killed")
    _wait_for_checkpoint(logdir, "killed", 200, proc)
    time.sleep(0.15)  # somewhere inside the next chunk of epochs
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (logdir / "killed" / "metrics.json").exists()
    again = run_train(*ARGS, f"--logdir={logdir}", "--run_name=killed", check=0)
    assert "resuming from the checkpoint at epoch" in again.stderr
    m = read_metrics(logdir / "killed")
    assert m["resumed_from_epoch"] >= 200
    _assert_same_run(m, uninterrupted)


def test_sigterm_saves_exits_75_and_resumes(logdir, uninterrupted):
    proc = _start(logdir, "term")
    _wait_for_checkpoint(logdir, "term", 100, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err[-2000:]
    assert "Traceback" not in err and "SIGTERM received: checkpoint saved at epoch" in err
    m = read_metrics(logdir / "term")
    assert m["status"] == "preempted" and m["signal"] == "SIGTERM"
    saved = m["epochs_completed"]
    assert (logdir / "term" / "checkpoints" / f"ckpt-{saved}.index").exists()
    run_train(*ARGS, f"--logdir={logdir}", "--run_name=term", check=0)
    m = read_metrics(logdir / "term")
    assert m["status"] == "finished" and m["resumed_from_epoch"] == saved
    _assert_same_run(m, uninterrupted)


def test_resume_refuses_a_run_directory_with_other_flags(logdir):
    proc = _start(logdir, "other")
    _wait_for_checkpoint(logdir, "other", 25, proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    bad = run_train(*ARGS, "--l2=0.5", f"--logdir={logdir}", "--run_name=other", check=2)
    assert "holds a run with other flags (--l2: 0.01 there, 0.5 now)" in bad.stderr


def test_nan_rollback_lowers_the_learning_rate_and_finishes(logdir):
    proc = run_train(
        "--learning_rate=1e5",
        "--on_nan=rollback",
        "--rollback_lr_factor=1e-7",
        "--epochs=40",
        "--checkpoint_every=10",
        f"--logdir={logdir}",
        "--run_name=rb",
        check=0,
    )
    assert "rolled back to epoch 0" in proc.stderr
    m = read_metrics(logdir / "rb")
    assert m["status"] == "finished" and m["rollbacks"] == 1
    assert m["final"]["learning_rate"] == pytest.approx(1e-2, rel=1e-5)
    assert all(v == v for v in m["history"]["train_data_loss"])  # no NaN left in the history
    assert (logdir / "rb" / "checkpoints" / "ckpt-40.index").exists()


def test_nan_rollback_gives_up_after_max_rollbacks(logdir):
    proc = run_train(
        "--learning_rate=1e6",
        "--on_nan=rollback",
        "--max_rollbacks=2",
        "--epochs=40",
        f"--logdir={logdir}",
        "--run_name=rb2",
        check=3,
    )
    assert proc.stderr.count("rolled back to epoch 0") == 2
    m = read_metrics(logdir / "rb2")
    assert m["status"] == "diverged" and m["rollbacks"] == 2
    assert (logdir / "rb2" / "checkpoints" / "ckpt-0.index").exists()  # last good checkpoint kept
