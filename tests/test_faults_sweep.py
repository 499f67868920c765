"""Sweeps under faults: started twice on one --out, and a worker SIGKILLed mid-sweep. No run is
trained twice and none is lost."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, read_metrics, run_train
from tests.test_faults import _remount
from tests.test_faults import tmpfs as tmpfs  # the fixture
from tests.test_sweep import manifest, sweep

# Long enough for the two sweeps to overlap, and for a signal sent once a run has its epoch-50
# checkpoint to land well before the sweep ends: ~1 s a run (a reused run of 150 epochs: 0.2 s).
ARGS = [
    "--configs=configs/model1.cfg",
    "--seeds=3",
    "--workers=1",
    "--train_flag=--epochs=1000",
    "--train_flag=--log_every=0",
    "--train_flag=--hidden=32,16",
]


def _start(out):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "sweep.py"), *ARGS, f"--out={out}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its worker processes are in its group: killable together
        # As from a terminal, whatever started pytest: a sweep keeps a SIGINT its parent ignores
        # ignored (a job started with `&` by a script), which would make Ctrl-C untestable.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _trainings(out, name):
    """How many times a run was started from scratch: train.py logs '(new run)' each time."""
    log = out / "logs" / f"{name}.log"
    return log.read_text().count("(new run)") if log.exists() else 0


def _wait_for_checkpoint(out, proc, run):
    """Waits until run number `run` of the sweep at `out` has its epoch-50 checkpoint; returns
    the sweep's run names."""
    names = []

    def checkpointed():
        if not names and (out / "sweep.json").exists():
            names.extend(r["name"] for r in manifest(out)["runs"])
        ckpt = out / "runs" / names[run] / "checkpoints" / "ckpt-50.index" if names else None
        return ckpt is not None and ckpt.exists()

    _wait(checkpointed, proc, f"run {run}'s checkpoint")
    return names


def _workers(out):
    """Pids of the sweep's worker processes still running."""
    found = subprocess.run(["pgrep", "-f", f"sweeps.worker {out}"], capture_output=True, text=True)
    return found.stdout.split()


def _wait(predicate, proc, what, timeout=180):
    deadline = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, f"sweep ended before {what}: {proc.communicate()}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_sweep_started_twice_never_trains_a_run_twice(tmp_path):
    out = tmp_path / "sweep"
    first = _start(out)
    _wait(lambda: (out / "sweep.json").exists(), first, "the first sweep's plan")
    second = _start(out)
    first.communicate(timeout=600)
    second.communicate(timeout=600)
    names = [r["name"] for r in manifest(out)["runs"]]
    for name in names:
        assert read_metrics(out / "runs" / name)["status"] == "finished"
        assert _trainings(out, name) == 1, name
    # Rerunning finds everything finished and trains nothing.
    proc = sweep(*ARGS, f"--out={out}", check=0)
    assert "3 runs" in proc.stdout + proc.stderr and "0 to run" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_killed_worker_loses_no_run_and_the_rerun_trains_only_the_rest(tmp_path):
    out = tmp_path / "sweep"
    proc = _start(out)
    names = _wait_for_checkpoint(out, proc, run=1)  # the second run is training
    assert (out / "runs" / names[0] / "metrics.json").exists()
    worker = _workers(out)
    assert worker, "no worker process found"
    for pid in worker:
        os.kill(int(pid), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1  # not every run finished: said in the exit code
    assert "Traceback" not in err
    before = read_metrics(out / "runs" / names[0])
    sweep(*ARGS, f"--out={out}", check=0)
    assert read_metrics(out / "runs" / names[0]) == before  # finished: kept, not retrained
    for name in names:
        assert read_metrics(out / "runs" / name)["status"] == "finished"
        assert _trainings(out, name) == 1, name  # the killed run resumed from epoch 50
    assert read_metrics(out / "runs" / names[1])["resumed_from_epoch"] >= 50


@pytest.mark.slow
def test_a_stop_signal_ends_the_sweep_and_the_rerun_resumes_its_runs(tmp_path):
    out = tmp_path / "sweep"
    proc = _start(out)
    names = _wait_for_checkpoint(out, proc, run=0)
    proc.send_signal(signal.SIGINT)  # Ctrl-C's signal (workers have process groups of their own)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-3000:]
    assert "Traceback" not in err
    assert "sweep.py: SIGINT received" in err
    assert _workers(out) == []  # no worker left behind
    not_finished = [n for n in names if not (out / "runs" / n / "metrics.json").exists()]
    assert not_finished  # it stopped early: runs were left
    sweep(*ARGS, f"--out={out}", check=0)
    for name in names:
        assert read_metrics(out / "runs" / name)["status"] == "finished"
        assert _trainings(out, name) == 1, name  # an interrupted run resumed, not restarted


def test_a_stop_signal_before_the_runs_start_ends_the_sweep_and_its_workers(tmp_path):
    out = tmp_path / "sweep"
    proc = _start(out)
    time.sleep(1.5)  # planning: importing TensorFlow, while the workers start
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 75
    assert "Traceback" not in err
    assert "sweep.py: SIGTERM received before any run started; rerun the same command" in err
    time.sleep(0.5)
    assert _workers(out) == []


@pytest.mark.slow
def test_a_full_disk_in_a_worker_that_reuses_its_loop(tmpfs, tmp_path):
    """One worker trains three seeds with one compiled loop; the disk fills during the second.
    That run and the next fail with exit 74 and the disk's one-line error, the sweep's exit code
    says so, and once space is freed the rerun resumes them. Their numbers then equal standalone
    train.py runs of the same flags: the loop reused after a failed run carries nothing of it."""
    disk = tmpfs("1950k")
    out = disk / "sw"
    # ~5.6 kB of events per epoch (histograms every epoch): a run takes ~1.4 MB; the second one
    # fills the disk near epoch 70, after its checkpoint at 60.
    train = ["--epochs=200", "--hidden=64,64", "--checkpoint_every=30", "--keep_checkpoints=1"]
    train.append("--hist_every=1")
    args = ["--configs=configs/model1.cfg", "--seeds=3", "--workers=1", f"--out={out}"]
    args += [f"--train_flag={a}" for a in train]
    proc = sweep(*args)
    # The failed run leaves the disk full to the last block: the next run's log and the sweep's
    # record of it may not be writable either, which ends the sweep with its own one-line disk
    # error (exit 74) instead of "some runs failed" (exit 1).
    own_write = "sweep.py: error: cannot write" in proc.stderr and "no space left" in proc.stderr
    assert proc.returncode == (74 if own_write else 1), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    runs = {r["name"]: r for r in manifest(out)["runs"]}
    names = sorted(runs)
    assert read_metrics(out / "runs" / names[0])["status"] == "finished"
    log = (out / "logs" / f"{names[1]}.log").read_text()
    assert "train.py: error: " in log and "no space left on device" in log, log[-2000:]
    for name in names[1:]:
        log = (out / "logs" / f"{name}.log").read_text()
        assert not log or "no space left on device" in log, log[-2000:]
        assert not (out / "runs" / name / "metrics.json").exists()
    assert "no space left on device" in proc.stdout + proc.stderr
    _remount(disk, "16m")
    proc = sweep(*args, check=0)
    log = (out / "logs" / f"{names[1]}.log").read_text()
    assert "resuming from the checkpoint at epoch" in log, log[-5000:]
    for seed, name in enumerate(names):
        m = read_metrics(out / "runs" / name)
        assert m["status"] == "finished"
        if seed:  # the resumed run, and the one that reused the loop after a failed run
            ref = _standalone(train, seed, tmp_path / "alone")
            assert m["final"] == ref["final"] and m["history"] == ref["history"], name


def _standalone(train, seed, logdir):
    """metrics.json of `train.py --flagfile=configs/model1.cfg <train> --seed=<seed>`."""
    args = ["--flagfile=configs/model1.cfg", *train, f"--seed={seed}", f"--logdir={logdir}"]
    run_train(*args, f"--run_name=s{seed}", check=0)
    return read_metrics(logdir / f"s{seed}")


@pytest.mark.slow
def test_a_disk_too_full_for_the_sweeps_own_status_files(tmpfs):
    """The sweep's own bookkeeping cannot be written: it hands out no further run and ends with
    one line and exit 74 (no traceback from its threads, none in a run's log); the rerun after
    space is freed trains what is left."""
    disk = tmpfs("200k")
    out = disk / "sw"
    train = ["--epochs=100", "--hidden=64,64", "--checkpoint_every=30", "--hist_every=1"]
    args = ["--configs=configs/model1.cfg", "--seeds=2", "--workers=1", f"--out={out}"]
    args += [f"--train_flag={a}" for a in train]
    proc = sweep(*args)
    err = proc.stderr.strip()
    assert proc.returncode == 74, err[-3000:]
    assert "Traceback" not in err and "Exception in thread" not in err, err[-3000:]
    last = err.splitlines()[-1]
    assert last.startswith("sweep.py: error: cannot write ") and "no space left" in last, last
    for log in (out / "logs").glob("*.log"):
        assert "Traceback" not in log.read_text(), log
    _remount(disk, "16m")
    sweep(*args, check=0)
    for r in manifest(out)["runs"]:
        assert read_metrics(out / "runs" / r["name"])["status"] == "finished"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("a,b,label\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(20)) + "1,x,0\n", "line 22"),
        ("a,b,label\n" + "".join(f"{i},{i},0\n" for i in range(20)), "only one class"),
        ("a,b,label\n" + "".join(f"{i},1e40,{i % 2}\n" for i in range(20)), "20 bad cells"),
    ],
)
def test_bad_data_in_a_sweep_is_one_line_exit_2_and_no_run_starts(tmp_path, body, fragment):
    path = tmp_path / "data.csv"
    path.write_text(body)
    out = tmp_path / "sw"
    proc = sweep(
        "--configs=configs/model1.cfg,configs/model2.cfg",
        "--seeds=3",
        f"--out={out}",
        f"--train_flag=--dataset=csv:{path}",
        "--train_flag=--validate_on=val",
        "--train_flag=--epochs=2",
        check=2,
    )
    assert "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert line.startswith("sweep.py: error: variant model1: ") and fragment in line, line
    assert line.endswith("(no run was started)"), line
    assert not out.exists()  # nothing written, no run directory, no log
