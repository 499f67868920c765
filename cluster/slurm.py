"""A cluster resolver for SLURM job steps that avoids SlurmClusterResolver's pitfalls.

TF's SlurmClusterResolver calls nvidia-smi (fails on CPU nodes), rejects gpus_per_node=0, and
sorts host names as strings (node10 before node9), which can pair task ids with the wrong hosts.
We reuse its host-list parsers but keep SLURM's own node order: with the default block
distribution, tasks 0..k-1 run on the first node of SLURM_STEP_NODELIST, and so on.
"""

import os

import tensorflow as tf

from errors import UserError
from framework_internals import expand_slurm_hostlist as expand_hostlist
from framework_internals import expand_slurm_tasks_per_node as expand_tasks_per_node


def in_multitask_step(env=os.environ):
    return "SLURM_PROCID" in env and int(env.get("SLURM_STEP_NUM_TASKS", "1")) > 1


def worker_addresses(env, port_base):
    """host:port of every task of the step, in SLURM task-id order."""
    hosts = expand_hostlist(env["SLURM_STEP_NODELIST"])
    tasks = expand_tasks_per_node(env["SLURM_STEP_TASKS_PER_NODE"])
    if len(hosts) != len(tasks):
        raise UserError(
            f"SLURM_STEP_NODELIST has {len(hosts)} hosts but "
            f"SLURM_STEP_TASKS_PER_NODE lists {len(tasks)}"
        )
    workers = [f"{h}:{port_base + j}" for h, k in zip(hosts, tasks, strict=True) for j in range(k)]
    expected = int(env["SLURM_STEP_NUM_TASKS"])
    if len(workers) != expected:
        raise UserError(f"SLURM step lists {len(workers)} tasks, SLURM_STEP_NUM_TASKS={expected}")
    return workers


def default_port_base(env):
    # Different jobs sharing a node get different ports; tasks of a node add their local index.
    return 20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000


def resolver(env=os.environ, port_base=0):
    try:
        workers = worker_addresses(env, port_base or default_port_base(env))
        task_id = int(env["SLURM_PROCID"])
    except (KeyError, ValueError) as e:
        raise UserError(f"incomplete SLURM step environment ({e}); launch with srun") from e
    spec = tf.train.ClusterSpec({"worker": workers})
    return tf.distribute.cluster_resolver.SimpleClusterResolver(
        spec, task_type="worker", task_id=task_id, rpc_layer="grpc"
    )
