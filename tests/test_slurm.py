"""The sbatch scripts on a real single-node SLURM cluster started by the test."""

import os

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
