"""Device selection and the tf.distribute strategy for a run (one device, one node, many nodes)."""

import dataclasses
import json
import os
import subprocess
import sys

import tensorflow as tf

from cluster import slurm
from errors import UserError


@dataclasses.dataclass
class Placement:
    strategy: tf.distribute.Strategy
    description: str
    is_chief: bool
    num_workers: int

    @property
    def replicas(self):
        return self.strategy.num_replicas_in_sync


def _select_gpus(spec):
    gpus = tf.config.list_physical_devices("GPU")
    if not spec:
        return gpus
    values = [int(v) for v in spec.split(",")]
    if len(values) == 1 and "," not in spec:
        if values[0] > len(gpus):
            raise UserError(f"--gpus={spec} asks for {values[0]} GPUs but {len(gpus)} are visible")
        return gpus[: values[0]]
    bad = [i for i in values if not 0 <= i < len(gpus)]
    if bad:
        raise UserError(f"--gpus lists GPU {bad[0]} but only indices 0..{len(gpus) - 1} exist")
    return [gpus[i] for i in values]


def _cluster_resolver(cfg):
    kind = cfg.cluster
    if kind == "auto":
        kind = (
            "tf_config"
            if os.environ.get("TF_CONFIG")
            else "slurm"
            if slurm.in_multitask_step()
            else "none"
        )
    if kind == "none":
        return None
    if kind == "slurm":
        return slurm.resolver(port_base=cfg.port_base)
    try:
        json.loads(os.environ.get("TF_CONFIG", ""))
    except json.JSONDecodeError as e:
        raise UserError(f"--cluster=tf_config but TF_CONFIG is not valid JSON ({e})") from e
    return tf.distribute.cluster_resolver.TFConfigClusterResolver()


# The strategy constructor waits for every peer in C++ without a timeout and without releasing
# the GIL, so a Python thread cannot interrupt it. A separate watchdog process does: unless we
# close its stdin first, it prints the error line and kills us (SIGKILL, exit status 137).
_WATCHDOG = """
import os, select, signal, sys
parent, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], timeout)[0]:
    print(message, file=sys.stderr, flush=True)
    os.kill(parent, signal.SIGKILL)
"""


def _multi_worker(resolver, timeout):
    """MultiWorkerMirroredStrategy, or one clear error if the peers do not connect in time."""
    message = (
        f"train.py: error: the other workers did not connect within --cluster_timeout="
        f"{timeout}s (cluster {resolver.cluster_spec().as_dict()}); check that every task "
        "started and can reach the others' ports"
    )
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout), message],
        stdin=subprocess.PIPE,
        stderr=_real_stderr(),
    )
    try:
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=resolver, communication_options=options
        )
        # The first collective completes only once every worker is up.
        strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
    finally:
        watchdog.stdin.close()
        watchdog.wait()
    return strategy


def _real_stderr():
    """The terminal/log stderr even while tf_runtime.quiet_startup captures fd 2."""
    from cluster import tf_runtime

    return tf_runtime.original_stderr_fd() or None


_applied = None  # device flags of the first run in this process (TF fixes them at first use)


def configure(cfg):
    """Applies --device/--gpus/--cpu_devices/--cluster; must run before TF initializes devices."""
    global _applied
    wanted = (cfg.device, cfg.gpus, cfg.cpu_devices)
    if _applied not in (None, wanted):
        raise UserError(
            f"device flags {wanted} differ from this process's first run {_applied}; "
            "TensorFlow fixes devices once per process"
        )
    first = _applied is None
    _applied = wanted
    cpus = tf.config.list_physical_devices("CPU")
    if cfg.cpu_devices > 1 and first:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * cfg.cpu_devices
        )
    gpus = tf.config.list_physical_devices("GPU")
    if cfg.device == "gpu" and not gpus:
        raise UserError(
            "--device=gpu but TensorFlow sees no GPU; run on a GPU node, install "
            "tensorflow[and-cuda] (BUILD.md), or pass --device=cpu"
        )
    use_gpu = cfg.device == "gpu" or (cfg.device == "auto" and gpus)
    if first and use_gpu:
        tf.config.set_visible_devices(_select_gpus(cfg.gpus), "GPU")
    elif first:
        tf.config.set_visible_devices([], "GPU")
    # On the GPU, ops with no GPU kernel (an assert's message string, say) must fall back to the
    # CPU, as TensorFlow's soft placement does; a missing GPU is refused above instead.
    if cfg.device == "cpu":
        tf.config.set_soft_device_placement(False)

    resolver = _cluster_resolver(cfg)
    if resolver is not None:
        strategy = _multi_worker(resolver, cfg.cluster_timeout)
        task_type, task_id = resolver.task_type, resolver.task_id
        workers = len(resolver.cluster_spec().as_dict().get("worker", []))
        is_chief = task_type == "chief" or (
            task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs
        )
        desc = (
            f"MultiWorkerMirroredStrategy: {task_type}:{task_id} of {workers} workers, "
            f"{strategy.num_replicas_in_sync} replicas"
        )
        return Placement(strategy, desc, is_chief, workers)

    kind = "GPU" if use_gpu else "CPU"
    devices = [d.name for d in tf.config.list_logical_devices(kind)]
    if len(devices) > 1:
        ops = None if use_gpu else tf.distribute.ReductionToOneDevice()
        strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=ops)
        desc = f"MirroredStrategy over {len(devices)} {kind}s: {', '.join(devices)}"
    else:
        strategy = tf.distribute.OneDeviceStrategy(devices[0])
        desc = f"OneDeviceStrategy on {devices[0]}"
    return Placement(strategy, desc, True, 1)
