"""The sbatch scripts on a real single-node SLURM cluster started by the test."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests import slurm_cluster
from tests.conftest import ROOT, read_metrics, run_train
from tests.test_distribute import assert_close_runs

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not slurm_cluster.available():
        if os.environ.get("REQUIRE_SLURM"):
            pytest.fail("REQUIRE_SLURM is set but slurm-wlm/munge are not installed")
        pytest.skip("slurm-wlm and munge are not installed (apt-get install slurm-wlm munge)")
    c = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm")).start()
    yield c
    c.stop()


def test_job_array_runs_one_variant_per_task(cluster, tmp_path):
    logdir = tmp_path / "logs"
    variants = tmp_path / "variants.txt"
    variants.write_text(
        "--reg=l1 --run_name=v0\n--reg=l2 --all_layers --run_name=v1\n--reg=dropout --run_name=v2\n"
    )
    job = cluster.sbatch(
        "--array=0-2",
        f"--output={tmp_path}/out-%a.txt",
        f"--export=ALL,VARIANTS={variants}",
        "slurm/array.sbatch",
        "--epochs=20",
        "--log_every=0",
        f"--logdir={logdir}",
        cwd=ROOT,
    )
    states = cluster.wait_for_jobs()
    assert [s for s in states.values()].count("COMPLETED") >= 3, (job, states)
    for i, reg in enumerate(["l1", "l2", "dropout"]):
        m = read_metrics(logdir / f"v{i}")
        assert m["status"] == "finished" and m["epochs_completed"] == 20
        config = (logdir / f"v{i}" / "config.json").read_text()
        assert f'"{reg}"' in config
        out = (tmp_path / f"out-{i}.txt").read_text()
        assert "train.py exited with 0" in out and "Accuracy is" in out
    assert read_metrics(logdir / "v1")["regularized_layers"]["l2"] == [0, 1, 2, 3, 4]


def test_srun_two_tasks_multiworker_matches_one_process(cluster, tmp_path):
    logdir = tmp_path / "logs"
    args = [
        "--reg=l2,batchnorm",
        "--all_layers",
        "--epochs=15",
        "--batch_size=32",
        "--log_every=0",
        "--device=cpu",
        f"--logdir={logdir}",
    ]
    cluster.sbatch(
        "--gres=none",
        "--nodes=1",
        "--ntasks=2",
        "--ntasks-per-node=2",
        f"--output={tmp_path}/mw.txt",
        "slurm/train_multinode.sbatch",
        *args,
        "--run_name=mw",
        "--cluster_timeout=120",
        cwd=ROOT,
    )
    cluster.wait_for_jobs()
    out = (tmp_path / "mw.txt").read_text()
    assert "worker:0 of 2 workers, 2 replicas" in out, out[-3000:]
    assert "train.py exited with 0" in out
    run_train(*args, "--run_name=single", check=0)
    assert_close_runs(logdir / "single", logdir / "mw", atol=1e-5)


# ---- sweep.py --executor=slurm: several runs per array task ------------------------------------
SAME = ("final", "history", "weights", "best_epoch", "stopped_epoch", "epochs_completed")


def _sweep(cluster, *args):
    return subprocess.run(
        [sys.executable, "sweep.py", "--executor=slurm", *args],
        cwd=ROOT,
        env={**cluster.env, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _runs(out):
    return json.loads((out / "sweep.json").read_text())["runs"]


def _assert_equals_standalone(run, out, tmp_path):
    """The run's metrics.json equals a standalone train.py run's with its flags, bitwise."""
    solo = tmp_path / "solo"
    run_train(*run["args"], f"--logdir={solo}", f"--run_name={run['name']}", check=0)
    a, b = read_metrics(out / "runs" / run["name"]), read_metrics(solo / run["name"])
    for key in SAME:
        assert a.get(key) == b.get(key), (run["name"], key)


def test_sweep_array_tasks_serve_several_runs(cluster, tmp_path):
    out = tmp_path / "sw"
    proc = _sweep(
        cluster,
        "--configs=configs/model1.cfg,configs/model5.cfg",
        "--seeds=2",
        "--runs_per_task=2",
        f"--out={out}",
        "--train_flag=--epochs=3",
        "--train_flag=--log_every=0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 finished" in proc.stdout
    job = re.search(r"submitted job array (\d+) \(2 tasks, 4 runs\)", proc.stderr).group(1)
    # Two array tasks, each one process serving one variant's two seeds.
    assert sorted(p.name for p in (out / "logs").glob("slurm-*.out")) == [
        f"slurm-{job}_0.out",
        f"slurm-{job}_1.out",
    ]
    states = cluster.wait_for_jobs()
    comp = [s for s in states.values()]
    assert comp.count("COMPLETED") >= 2, states
    runs = _runs(out)
    for task, variant in enumerate(["model1", "model5"]):
        mine = [r for r in runs if r["variant"] == variant]
        text = (out / "logs" / f"slurm-{job}_{task}.out").read_text()
        assert all(f"{r['name']}: exited with 0" in text for r in mine), text
        assert "the array task exited with 0" in text
        for r in mine:
            assert json.loads((out / "status" / f"{r['name']}.json").read_text())["exit"] == 0
        second = (out / "logs" / f"{mine[1]['name']}.log").read_text()
        assert "compiled loop: the previous run's" in second  # seed 0's, in the same process
    for run in runs:
        _assert_equals_standalone(run, out, tmp_path)


def test_requeued_array_task_skips_finished_runs_and_resumes_the_other(cluster, tmp_path):
    """SLURM's time-limit warning (USR1) reaches seed 1 in training: it checkpoints, the task
    exits 75 and is requeued; the requeued task skips seed 0 and resumes seed 1."""
    out = tmp_path / "sw"
    proc = _sweep(
        cluster,
        "--configs=configs/model5.cfg",
        "--seeds=2",
        "--runs_per_task=2",
        "--nowait",
        f"--out={out}",
        "--train_flag=--epochs=3000",
        "--train_flag=--checkpoint_every=20",
        "--train_flag=--log_every=0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = re.search(r"submitted job array (\d+) \(1 task, 2 runs\)", proc.stdout).group(1)
    first, second = (out / "runs" / r["name"] for r in _runs(out))
    deadline = time.time() + 300
    while not list((second / "checkpoints").glob("ckpt-*.index")):
        assert time.time() < deadline, "seed 1 never checkpointed"
        time.sleep(0.1)
    assert read_metrics(first)["status"] == "finished"
    subprocess.run(["scancel", "--signal=USR1", f"{job}_0"], env=cluster.env, check=True)
    # SLURM holds a requeued job for about 2 minutes (BeginTime): let it start now, but only
    log = out / "logs" / f"slurm-{job}_0.out"
    while f"requeueing {job}_0" not in log.read_text():
        assert time.time() < deadline, log.read_text()
        time.sleep(0.2)
    # once the requeue is complete (pending, held until its BeginTime, the node idle again) and
    # a second has passed: slurmd refuses a launch whose credential is from the same second as
    # the kill that revoked the job's old one ("Job credential revoked"; SLURM's own hold
    # exists for this).
    while (
        cluster.job_states(f"{job}_0", "%T %r") != ["PENDING BeginTime"]
        or cluster.node_state() != "idle"
    ):
        assert time.time() < deadline, f"the task was not requeued: {cluster.job_states()}"
        time.sleep(0.2)
    time.sleep(2)
    subprocess.run(
        ["scontrol", "update", f"JobId={job}_0", "StartTime=now"], env=cluster.env, check=True
    )
    cluster.wait_for_jobs(timeout=300)
    text = (out / "logs" / f"slurm-{job}_0.out").read_text()
    assert "the array task exited with 75" in text and f"requeueing {job}_0" in text, text
    assert f"{first.name}: finished already, skipped" in text, text
    assert "the array task exited with 0" in text, text
    assert read_metrics(first)["resumed_from_epoch"] == 0
    resumed = read_metrics(second)
    assert resumed["status"] == "finished" and 0 < resumed["resumed_from_epoch"] < 3000
    assert json.loads((out / "status" / f"{second.name}.json").read_text())["exit"] == 0
    _assert_equals_standalone(_runs(out)[1], out, tmp_path)
