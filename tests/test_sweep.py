"""sweep.py and report.py: the table equals the runs' metrics; resume; failures; bad input."""

import csv
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from tests import slurm_cluster
from tests.conftest import ROOT, read_metrics

FAST = "--train_flags=--epochs=8,--log_every=0"


def _script(name, *args, check=None, env=None):
    proc = subprocess.run(
        [sys.executable, str(ROOT / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check is not None:
        assert proc.returncode == check, proc.stderr[-3000:]
    return proc


def sweep(*args, check=None, env=None):
    return _script("sweep.py", *args, check=check, env=env)


def report(out, check=None):
    return _script("report.py", f"--sweep_dir={out}", check=check)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_small_sweep_table_equals_the_runs_and_resumes(tmp_path):
    out = tmp_path / "sw"
    args = [
        "--configs=configs/model2.cfg,configs/model7.cfg",
        "--seeds=2",
        f"--out={out}",
        "--workers=2",
        FAST,
    ]
    first = sweep(*args, check=0)
    assert "4 runs in" in first.stdout
    report(out, check=0)
    with open(out / "results.csv") as f:
        rows = {r["variant"]: r for r in csv.DictReader(f)}
    assert list(rows) == ["model2", "model7"]
    for variant in rows:
        ms = [read_metrics(out / "runs" / f"{variant}_s{s}") for s in range(2)]
        acc = [m["final"]["test_accuracy"] for m in ms]
        assert float(rows[variant]["test_accuracy_mean"]) == pytest.approx(np.mean(acc))
        assert float(rows[variant]["test_accuracy_std"]) == pytest.approx(np.std(acc))
        assert float(rows[variant]["test_mse_mean"]) == pytest.approx(
            np.mean([m["final"]["test_mse"] for m in ms])
        )
        assert rows[variant]["finished"] == "2" and rows[variant]["failed"] == "0"
    # model2 regularizes layer 0 with L1: its sparsity/norm columns describe dense0 only.
    m = read_metrics(out / "runs" / "model2_s0")
    m1 = read_metrics(out / "runs" / "model2_s1")
    assert float(rows["model2"]["reg_layers_l2_norm_mean"]) == pytest.approx(
        (m["weights"]["dense0"]["l2_norm"] + m1["weights"]["dense0"]["l2_norm"]) / 2
    )
    md = (out / "results.md").read_text()
    assert "| model2 |" in md and "| model7 |" in md
    for name in ["curves_model2.png", "curves_model7.png", "accuracy.png"]:
        assert png_size(out / name) == (1000, 400)

    # Interrupt: forget one run's result and break another mid-way, then re-run the sweep.
    finished_mtime = os.path.getmtime(out / "runs" / "model2_s0" / "metrics.json")
    os.remove(out / "runs" / "model7_s1" / "metrics.json")
    again = sweep(*args, check=0)
    assert "1 runs in" in again.stdout
    assert os.path.getmtime(out / "runs" / "model2_s0" / "metrics.json") == finished_mtime
    assert read_metrics(out / "runs" / "model7_s1")["status"] == "finished"
    assert sweep(*args, check=0).stdout == ""  # nothing left to do


def test_failing_run_is_recorded_and_does_not_stop_the_sweep(tmp_path):
    bad = tmp_path / "diverge.cfg"
    bad.write_text("--reg=none\n--learning_rate=1e6\n")
    out = tmp_path / "sw"
    proc = sweep(f"--configs=configs/model1.cfg,{bad}", "--seeds=1", f"--out={out}", FAST, check=0)
    assert "diverge_s0: diverged" in proc.stdout
    assert read_metrics(out / "runs" / "model1_s0")["status"] == "finished"
    report(out, check=0)
    with open(out / "results.csv") as f:
        rows = {r["variant"]: r for r in csv.DictReader(f)}
    assert rows["diverge"]["finished"] == "0" and rows["diverge"]["failed"] == "1"
    assert rows["model1"]["finished"] == "1"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--configs=configs/nope.cfg"], "config file configs/nope.cfg does not exist"),
        (["--seeds=0"], "--seeds must be >= 1"),
    ],
)
def test_sweep_bad_input(tmp_path, args, message):
    proc = sweep(*args, f"--out={tmp_path}/sw", check=2)
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "sw").exists()


def test_sweep_config_with_unknown_flag_and_unwritable_out(tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("--reg=l1\n--learning_rat=0.1\n")
    proc = sweep(f"--configs={cfg}", f"--out={tmp_path}/sw", check=2)
    assert "Unknown command line flag 'learning_rat'" in proc.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = sweep("--configs=configs/model1.cfg", f"--out={blocker}/sw", check=2)
    assert "cannot write the sweep directory" in proc.stderr


def test_report_bad_input_leaves_earlier_results(tmp_path):
    proc = report(tmp_path / "none", check=2)
    assert "does not exist" in proc.stderr
    empty = tmp_path / "empty"
    (empty / "runs").mkdir(parents=True)
    (empty / "sweep.json").write_text(
        json.dumps({"runs": [{"variant": "v", "seed": 0, "name": "v_s0", "args": []}]})
    )
    (empty / "results.md").write_text("earlier results")
    proc = report(empty, check=2)
    assert "holds no finished runs" in proc.stderr and "Traceback" not in proc.stderr
    assert (empty / "results.md").read_text() == "earlier results"


@pytest.mark.slurm
def test_sweep_submits_one_slurm_job_array(tmp_path):
    if not slurm_cluster.available():
        if os.environ.get("REQUIRE_SLURM"):
            pytest.fail("REQUIRE_SLURM is set but slurm-wlm/munge are not installed")
        pytest.skip("slurm-wlm and munge are not installed")
    cluster = slurm_cluster.Cluster(tmp_path / "slurm").start()
    try:
        out = tmp_path / "sw"
        proc = sweep(
            "--executor=slurm",
            "--configs=configs/model1.cfg,configs/model5.cfg",
            "--seeds=2",
            f"--out={out}",
            FAST,
            env=cluster.env,
            check=0,
        )
        assert "submitted job array" in proc.stderr
        assert len((out / "variants.txt").read_text().splitlines()) == 4
        for name in ["model1_s0", "model1_s1", "model5_s0", "model5_s1"]:
            assert read_metrics(out / "runs" / name)["status"] == "finished"
        assert len(list((out / "logs").glob("slurm-*_*.out"))) == 4
    finally:
        cluster.stop()


def test_a_run_inside_a_sweep_worker_equals_a_standalone_run(tmp_path):
    out = tmp_path / "sw"
    # Two runs in one worker: the second (Dropout, seed 1) follows another run in the process.
    sweep("--configs=configs/model8.cfg", "--seeds=2", f"--out={out}", "--workers=1", FAST, check=0)
    from tests.conftest import run_train

    run_train(
        "--flagfile=configs/model8.cfg",
        "--seed=1",
        "--epochs=8",
        "--log_every=0",
        f"--logdir={tmp_path}/solo",
        "--run_name=model8_s1",
        check=0,
    )
    a = read_metrics(out / "runs" / "model8_s1")
    b = read_metrics(tmp_path / "solo" / "model8_s1")
    for key in ("final", "history", "weights"):
        assert a[key] == b[key], key
