"""Command-line flags of train.py, their validators, and the run configuration they produce."""

import dataclasses
import json

from absl import flags

REG_NAMES = ("none", "l1", "l2", "dropout", "batchnorm")

# Flags that describe what is trained; the rest (where, how often to log) may change on resume.
RESUME_INSENSITIVE = (
    "logdir",
    "run_name",
    "device",
    "gpus",
    "cpu_devices",
    "log_every",
    "stats_every",
    "hist_every",
    "checkpoint_every",
    "keep_checkpoints",
    "cluster_timeout",
    "port_base",
    "progress",
    "data_dir",
    "flagfile",
)


def _floats(text):
    return [float(v) for v in text.split(",") if v.strip()]


def define_flags(fv=flags.FLAGS):
    """Defines every train.py flag on `fv` (a fresh FlagValues lets sweep.py check flagfiles)."""
    d = dict(flag_values=fv)
    # What to train on.
    flags.DEFINE_string(
        "dataset",
        "iris",
        "iris|wine|breast_cancer|digits (scikit-learn, offline), tfds:<name>, or csv:<path>.",
        **d,
    )
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data_dir for tfds:<name>.", **d)
    flags.DEFINE_string("train_split", "train", "tfds split used for training.", **d)
    flags.DEFINE_string(
        "test_split",
        "",
        "tfds split used for validation/test; empty: 'test' if the dataset has one, else the "
        "last --test_fraction of --train_split.",
        **d,
    )
    flags.DEFINE_string("label_column", "label", "Label column of a csv:<path> dataset.", **d)
    flags.DEFINE_float(
        "test_fraction", 0.2, "Held-out fraction (stratified) for sklearn and CSV data.", **d
    )
    # The model.
    flags.DEFINE_string("model", "mlp", "mlp (the tutorial's) or cnn (image data).", **d)
    flags.DEFINE_list("hidden", ["512", "256", "128", "64", "32"], "MLP hidden widths.", **d)
    flags.DEFINE_list("conv_filters", ["32", "64"], "CNN conv block filters.", **d)
    flags.DEFINE_list("cnn_dense", ["128"], "CNN dense hidden widths after the conv blocks.", **d)
    flags.DEFINE_enum(
        "activation",
        "tanh",
        ["tanh", "relu", "elu", "sigmoid", "gelu"],
        "Activation of every hidden layer but the last.",
        **d,
    )
    flags.DEFINE_enum(
        "last_activation",
        "relu",
        ["tanh", "relu", "elu", "sigmoid", "gelu"],
        "Activation of the last hidden layer (the tutorial uses relu there).",
        **d,
    )
    # Regularization.
    flags.DEFINE_list(
        "reg",
        ["none"],
        "Comma list of none,l1,l2,dropout,batchnorm (they combine). Without --all_layers or "
        "--layers each goes where the tutorial put it: L1/L2 on the first Dense, Dropout after "
        "the first hidden layer, BatchNorm after the second.",
        **d,
    )
    flags.DEFINE_bool("all_layers", False, "Put each --reg on every hidden layer.", **d)
    flags.DEFINE_list(
        "layers", [], "Hidden-layer indices (0-based) that get each --reg, e.g. 0,2.", **d
    )
    flags.DEFINE_float("l1", 0.01, "L1 strength: penalty = l1 * sum|w| (Keras's 'l1').", **d)
    flags.DEFINE_float("l2", 0.01, "L2 strength: penalty = l2 * sum w^2 (Keras's 'l2').", **d)
    flags.DEFINE_list(
        "dropout_rate",
        ["0.5"],
        "Dropout rate: one value for every Dropout layer, or one per Dropout layer.",
        **d,
    )
    # Optimization.
    flags.DEFINE_integer("epochs", 350, "Training epochs.", **d)
    flags.DEFINE_integer("batch_size", 128, "Global batch size (over all replicas).", **d)
    flags.DEFINE_enum("optimizer", "sgd", ["sgd", "adam", "rmsprop"], "Optimizer.", **d)
    flags.DEFINE_float("learning_rate", 0.01, "Learning rate.", **d)
    flags.DEFINE_integer("seed", 0, "Seed of the split, initial weights, shuffling, Dropout.", **d)
    flags.DEFINE_enum(
        "on_nan",
        "stop",
        ["stop", "rollback"],
        "On a NaN/inf loss: stop with status 'diverged', or roll back to the last good "
        "checkpoint with the learning rate times --rollback_lr_factor.",
        **d,
    )
    flags.DEFINE_float("rollback_lr_factor", 0.5, "Learning-rate factor per rollback.", **d)
    flags.DEFINE_integer("max_rollbacks", 3, "Rollbacks before the run counts as diverged.", **d)
    # Outputs and cadence.
    flags.DEFINE_string("logdir", "runs_out", "Parent directory of run directories.", **d)
    flags.DEFINE_string(
        "run_name", "", "Run directory name under --logdir; empty: derived from the flags.", **d
    )
    flags.DEFINE_integer(
        "log_every", 1, "Epochs between scalar summaries; 0 turns summaries off.", **d
    )
    flags.DEFINE_integer(
        "stats_every",
        None,
        "Epochs between per-layer statistics (weights, gradients, activations, BatchNorm); "
        "0 turns them off. Default: --log_every.",
        **d,
    )
    flags.DEFINE_integer("hist_every", 50, "Epochs between histograms; 0 turns them off.", **d)
    flags.DEFINE_float(
        "sparsity_threshold", 1e-3, "A weight counts as sparse when |w| is below this.", **d
    )
    flags.DEFINE_integer(
        "checkpoint_every", 50, "Epochs between checkpoints (also the compiled-loop length).", **d
    )
    flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept in the run directory.", **d)
    flags.DEFINE_enum(
        "progress",
        "auto",
        ["auto", "bar", "lines"],
        "auto: a progress bar on a terminal, timestamped lines in batch jobs.",
        **d,
    )
    # Devices and distribution.
    flags.DEFINE_enum("device", "auto", ["auto", "cpu", "gpu"], "auto: GPU if present.", **d)
    flags.DEFINE_string("gpus", "", "GPU count (e.g. 2) or list (e.g. 0,2); empty: all.", **d)
    flags.DEFINE_integer(
        "cpu_devices",
        1,
        "Split the CPU into this many logical devices (MirroredStrategy "
        "on a machine without GPUs).",
        **d,
    )
    flags.DEFINE_enum(
        "mixed_precision",
        "none",
        ["none", "bf16", "fp16"],
        "Mixed precision policy; fp16 uses a LossScaleOptimizer.",
        **d,
    )
    flags.DEFINE_bool("xla", False, "JIT-compile the train step with XLA.", **d)
    flags.DEFINE_enum(
        "cluster",
        "auto",
        ["auto", "none", "tf_config", "slurm"],
        "Multi-worker setup: auto uses TF_CONFIG if set, else SLURM when launched by srun "
        "with several tasks.",
        **d,
    )
    flags.DEFINE_integer(
        "cluster_timeout", 120, "Seconds to wait for the other workers before giving up.", **d
    )
    flags.DEFINE_integer(
        "port_base", 0, "First gRPC port of SLURM workers; 0: derived from SLURM_JOB_ID.", **d
    )
    _register_validators(fv)


def _is_int_list(values):
    return all(v.strip().lstrip("-").isdigit() for v in values)


def _register_validators(fv):
    def check(name, predicate, message):
        flags.register_validator(name, predicate, message=message, flag_values=fv)

    check(
        "reg",
        lambda v: set(v) <= set(REG_NAMES),
        f"--reg takes a comma list of {','.join(REG_NAMES)}",
    )
    check("l1", lambda v: v >= 0, "--l1 must be >= 0")
    check("l2", lambda v: v >= 0, "--l2 must be >= 0")
    check("epochs", lambda v: v > 0, "--epochs must be > 0")
    check("batch_size", lambda v: v > 0, "--batch_size must be > 0")
    check("learning_rate", lambda v: v > 0, "--learning_rate must be > 0")
    check("test_fraction", lambda v: 0 < v < 1, "--test_fraction must be in (0, 1)")
    check(
        "hidden",
        lambda v: _is_int_list(v) and all(int(x) > 0 for x in v),
        "--hidden must be a comma list of positive integers, e.g. 512,256",
    )
    check(
        "conv_filters",
        lambda v: _is_int_list(v) and v and all(int(x) > 0 for x in v),
        "--conv_filters must be a comma list of positive integers, e.g. 32,64",
    )
    check(
        "cnn_dense",
        lambda v: _is_int_list(v) and all(int(x) > 0 for x in v),
        "--cnn_dense must be a comma list of positive integers, e.g. 128",
    )
    check(
        "layers",
        lambda v: _is_int_list(v) and all(int(x) >= 0 for x in v),
        "--layers must be a comma list of hidden-layer indices >= 0, e.g. 0,2",
    )

    def rates_ok(v):
        try:
            return bool(v) and all(0 <= r < 1 for r in map(float, v))
        except ValueError:
            return False

    check("dropout_rate", rates_ok, "--dropout_rate values must be numbers in [0, 1)")
    check("log_every", lambda v: v >= 0, "--log_every must be >= 0 (0 turns summaries off)")
    check(
        "stats_every",
        lambda v: v is None or v >= 0,
        "--stats_every must be >= 0 (0 turns them off)",
    )
    check("hist_every", lambda v: v >= 0, "--hist_every must be >= 0 (0 turns histograms off)")
    check("sparsity_threshold", lambda v: v > 0, "--sparsity_threshold must be > 0")
    check("checkpoint_every", lambda v: v > 0, "--checkpoint_every must be > 0")
    check("keep_checkpoints", lambda v: v > 0, "--keep_checkpoints must be > 0")
    check("cpu_devices", lambda v: v > 0, "--cpu_devices must be > 0")
    check("cluster_timeout", lambda v: v > 0, "--cluster_timeout must be > 0 seconds")
    check("rollback_lr_factor", lambda v: 0 < v < 1, "--rollback_lr_factor must be in (0, 1)")
    check("max_rollbacks", lambda v: v >= 0, "--max_rollbacks must be >= 0")
    check(
        "gpus",
        lambda v: v == "" or _is_int_list(v.split(",")),
        "--gpus must be a count (e.g. 2) or a comma list of GPU indices (e.g. 0,2)",
    )
    check(
        "run_name",
        lambda v: "/" not in v and v not in (".", ".."),
        "--run_name must be a plain directory name (no '/')",
    )
    flags.register_multi_flags_validator(
        ["layers", "all_layers"],
        lambda f: not (f["layers"] and f["all_layers"]),
        message="--layers and --all_layers exclude each other: pick one",
        flag_values=fv,
    )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every train.py flag value, as stored in a run's config.json."""

    values: dict

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError as e:
            raise AttributeError(name) from e

    @property
    def regs(self):
        return tuple(r for r in self.values["reg"] if r != "none")

    def trained_identity(self):
        """The values that must match for a run directory to be resumed."""
        return {k: v for k, v in self.values.items() if k not in RESUME_INSENSITIVE}

    def to_json(self):
        return json.dumps(self.values, indent=2, sort_keys=True)


def config_from_flags(fv=flags.FLAGS):
    names = sorted({f.name for f in fv.get_key_flags_for_module(__name__)})
    values = {}
    for name in names:
        value = fv[name].value
        values[name] = list(value) if isinstance(value, list | tuple) else value
    values["hidden"] = [int(v) for v in values["hidden"]]
    values["conv_filters"] = [int(v) for v in values["conv_filters"]]
    values["cnn_dense"] = [int(v) for v in values["cnn_dense"]]
    values["layers"] = [int(v) for v in values["layers"]]
    values["dropout_rate"] = [float(v) for v in values["dropout_rate"]]
    values["reg"] = sorted(set(values["reg"]), key=REG_NAMES.index)
    if values["stats_every"] is None:
        values["stats_every"] = values["log_every"]
    return RunConfig(values)


def default_run_name(cfg):
    """A readable name from the flags that define the variant, plus the seed."""
    parts = [cfg.dataset.replace(":", "-").replace("/", "-").replace(".", "-"), cfg.model]
    regs = cfg.regs or ("none",)
    for r in regs:
        if r == "l1":
            parts.append(f"l1-{cfg.l1:g}")
        elif r == "l2":
            parts.append(f"l2-{cfg.l2:g}")
        elif r == "dropout":
            parts.append("dropout-" + "-".join(f"{x:g}" for x in cfg.dropout_rate))
        else:
            parts.append(r)
    if cfg.all_layers:
        parts.append("all")
    elif cfg.layers:
        parts.append("layers" + "-".join(map(str, cfg.layers)))
    parts += [f"{cfg.optimizer}-{cfg.learning_rate:g}", f"bs{cfg.batch_size}", f"s{cfg.seed}"]
    return "_".join(parts)
