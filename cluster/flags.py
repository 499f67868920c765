"""train.py's device and cluster flags: where a run trains (flagdef.Flag records)."""

import functools

from flagdef import Flag, is_int_list

MAX_CLUSTER_TIMEOUT = 7 * 24 * 3600  # seconds; select() and gRPC refuse much larger timeouts
MAX_GPUS = 1024

_flag = functools.partial(Flag, group="devices and cluster")


def _gpus_ok(v):
    """'' (all), a count >= 1, or a comma list of distinct GPU indices."""
    if v == "":
        return True
    values = v.split(",")
    if not is_int_list(values):
        return False
    numbers = [int(x) for x in values]
    if len(numbers) == 1:
        return 1 <= numbers[0] <= MAX_GPUS
    return all(0 <= x < MAX_GPUS for x in numbers) and len(set(numbers)) == len(numbers)


def _xla_compiles(values):
    """--xla with a regularizer whose ops XLA cannot compile (its `no_xla` says why)."""
    from regularizers import REGISTRY
    from regularizers.flags import active_names

    for name in sorted(active_names(values)):
        cls = REGISTRY.get(name)
        if values["xla"] and cls is not None and cls.no_xla:
            return f"--xla cannot compile --reg={name}: {cls.no_xla}; drop one of them"
    return None


RECORDS = (
    _flag(
        "device",
        "auto",
        "auto: GPU if present.",
        kind="enum",
        choices=("auto", "cpu", "gpu"),
        trains=False,
    ),
    _flag(
        "gpus",
        "",
        "GPU count (e.g. 2) or list (e.g. 0,2); empty: all.",
        check=_gpus_ok,
        message="--gpus must be a count >= 1 (e.g. 2: the first two) or a comma list of "
        "distinct GPU indices (e.g. 0,2); --device=cpu uses none",
        trains=False,
        applies=lambda values: values["device"] != "cpu",
        idle_why="--device=cpu uses no GPU",
    ),
    _flag(
        "cpu_devices",
        1,
        "Split the CPU into this many logical devices (MirroredStrategy "
        "on a machine without GPUs).",
        kind="integer",
        check=lambda v: 0 < v <= 64,
        message="--cpu_devices must be in 1..64",
        trains=False,
    ),
    _flag(
        "mixed_precision",
        "none",
        "Mixed precision policy; fp16 uses a LossScaleOptimizer.",
        kind="enum",
        choices=("none", "bf16", "fp16"),
        hparam=True,
    ),
    _flag(
        "xla",
        False,
        "JIT-compile the train step with XLA.",
        kind="bool",
        check_with=_xla_compiles,
    ),
    _flag(
        "cluster",
        "auto",
        "Multi-worker setup: auto uses TF_CONFIG if set, else SLURM when launched by srun "
        "with several tasks.",
        kind="enum",
        choices=("auto", "none", "tf_config", "slurm"),
    ),
    _flag(
        "cluster_timeout",
        120,
        "Seconds to wait for the other workers before giving up.",
        kind="integer",
        check=lambda v: 0 < v <= MAX_CLUSTER_TIMEOUT,
        message=f"--cluster_timeout must be > 0 and at most {MAX_CLUSTER_TIMEOUT} seconds (a week)",
        trains=False,
    ),
    _flag(
        "port_base",
        0,
        "First gRPC port of SLURM workers; 0: derived from SLURM_JOB_ID.",
        kind="integer",
        check=lambda v: 0 <= v < 65536,
        message="--port_base must be in 0..65535",
        trains=False,
    ),
)
