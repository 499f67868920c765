"""tf.distribute: 2 logical CPUs, 2 worker processes, cluster timeout, SLURM host lists."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from cluster import slurm
from errors import UserError
from tests.conftest import ROOT, read_metrics, read_scalars, run_train

ARGS = ["--reg=l2,batchnorm", "--all_layers", "--epochs=15", "--batch_size=32", "--log_every=0"]


def checkpoint_tensors(run_dir):
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    return {
        k: reader.get_tensor(k)
        for k in reader.get_variable_to_shape_map()
        if k.startswith(("model/", "optimizer/_trainable_variables"))
    }


def assert_close_runs(a_dir, b_dir, atol):
    a, b = checkpoint_tensors(a_dir), checkpoint_tensors(b_dir)
    assert a.keys() == b.keys() and len(a) > 10
    diff = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
    weights = {k: d for k, d in diff.items() if "/moving_" not in k}
    assert len(weights) >= 12 and max(weights.values()) <= atol, weights
    # Synchronized BN computes the cross-replica variance as E[x^2] - E[x]^2: its moving
    # statistics match one device to float32 rounding of that formula, not bit for bit.
    moving = {k: d for k, d in diff.items() if "/moving_" in k}
    assert max(moving.values(), default=0.0) <= 10 * atol, moving
    ma, mb = read_metrics(a_dir), read_metrics(b_dir)
    for key in ma["history"]:
        np.testing.assert_allclose(
            ma["history"][key], mb["history"][key], atol=10 * atol, rtol=1e-5
        )


def _with_step_statistics(logdir):
    """ARGS with per-layer statistics every 5 epochs (and no histograms), into `logdir`."""
    args = [a for a in ARGS if a != "--log_every=0"]
    return [*args, "--stats_every=5", "--hist_every=0", f"--logdir={logdir}"]


def test_mirrored_over_two_logical_cpus_equals_one_device(logdir):
    # With per-layer statistics every 5 epochs: the gradient norm is that of the summed gradient.
    args = _with_step_statistics(logdir)
    run_train(*args, "--run_name=one", check=0)
    two = run_train(*args, "--cpu_devices=2", "--run_name=two", check=0)
    assert "MirroredStrategy over 2 CPUs" in two.stderr
    assert "MirroredStrategy" in read_metrics(logdir / "two")["devices"]
    # Synchronized BatchNorm + summed gradients: the same maths as one device.
    assert_close_runs(logdir / "one", logdir / "two", atol=1e-6)
    one_s, two_s = read_scalars(logdir / "one"), read_scalars(logdir / "two")
    for key in ["grad_l2_norm", "update_ratio", "l2_norm"]:
        a, b = one_s[f"weights/dense1/{key}"], two_s[f"weights/dense1/{key}"]
        assert [s for s, _ in a] == [s for s, _ in b] == [5, 10, 15]
        np.testing.assert_allclose([v for _, v in a], [v for _, v in b], rtol=1e-4)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _worker(index, ports, args):
    tf_config = {
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    }
    env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_workers_via_tf_config_equal_one_process(logdir):
    # With step statistics every 5 epochs: the workers sum their kernel gradients on those
    # steps only, inside a graph branch that both take.
    args = _with_step_statistics(logdir)
    run_train(*args, "--run_name=single", check=0)
    ports = _free_ports(2)
    workers = [
        _worker(i, ports, [*args, "--run_name=multi", "--cluster_timeout=90"]) for i in (0, 1)
    ]
    outs = [w.communicate(timeout=240) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outs[0][1][-3000:] + outs[1][1][-3000:]
    assert "worker:0 of 2 workers, 2 replicas" in outs[0][1]
    assert outs[0][0].startswith("Loss is") and outs[1][0] == ""  # only the chief reports
    assert_close_runs(logdir / "single", logdir / "multi", atol=1e-5)
    one, two = read_scalars(logdir / "single"), read_scalars(logdir / "multi")
    for key in ["grad_l2_norm", "update_ratio"]:
        a, b = one[f"weights/dense2/{key}"], two[f"weights/dense2/{key}"]
        assert [s for s, _ in a] == [s for s, _ in b] == [5, 10, 15]
        np.testing.assert_allclose([v for _, v in a], [v for _, v in b], rtol=1e-3)


def test_a_worker_without_peers_gives_up_after_cluster_timeout(logdir):
    start = time.time()
    lone = _worker(0, _free_ports(2), [*ARGS, f"--logdir={logdir}", "--cluster_timeout=3"])
    _, err = lone.communicate(timeout=120)
    assert lone.returncode == -9  # killed by its watchdog after printing the reason
    lines = [line for line in err.splitlines() if line.startswith("train.py: error:")]
    assert len(lines) == 1 and "did not connect within --cluster_timeout=3s" in lines[0]
    assert "Traceback" not in err and time.time() - start < 60
    assert not logdir.exists()


def _step_env(nodelist, tasks_per_node, ntasks, procid):
    return {
        "SLURM_STEP_NODELIST": nodelist,
        "SLURM_STEP_TASKS_PER_NODE": tasks_per_node,
        "SLURM_STEP_NUM_TASKS": str(ntasks),
        "SLURM_PROCID": str(procid),
        "SLURM_JOB_ID": "1234",
    }


def test_slurm_workers_keep_slurm_node_order():
    # TF's SlurmClusterResolver sorts hosts as strings: node10 before node9.
    env = _step_env("node[9-10]", "2(x2)", 4, 2)
    assert slurm.worker_addresses(env, 30000) == [
        "node9:30000",
        "node9:30001",
        "node10:30000",
        "node10:30001",
    ]
    r = slurm.resolver(env)
    assert r.task_type == "worker" and r.task_id == 2
    assert r.cluster_spec().as_dict()["worker"][2] == "node10:21234"


def test_slurm_resolver_needs_no_gpu_tools_and_checks_counts():
    env = _step_env("cpu01,cpu02", "1,1", 2, 0)
    assert slurm.worker_addresses(env, 5000) == ["cpu01:5000", "cpu02:5000"]
    with pytest.raises(UserError, match="SLURM_STEP_NUM_TASKS=3"):
        slurm.worker_addresses(_step_env("a,b", "1,1", 3, 0), 5000)
    assert not slurm.in_multitask_step({"SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "1"})
    assert slurm.in_multitask_step(env)
