"""Command-line flags of train.py, their validators, and the run configuration they produce."""

import dataclasses
import hashlib
import json
import math
import re

from absl import flags

import framework_internals
import regularizers
from errors import UserError

ACTIVATIONS = ["tanh", "relu", "elu", "sigmoid", "gelu"]
OPTIMIZERS = ["sgd", "momentum", "adam", "adamw", "rmsprop"]

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
    "hparams_experiment",
    "data_dir",
    "flagfile",
    "ece_bins",
    "sharpness_samples",
    "sharpness_delta",
    "sharpness_steps",
)

# --help lists the flags in these groups (the regularizers' own flags join "regularizers").
GROUPS = {
    "data": [
        "dataset",
        "test_fraction",
        "val_fraction",
        "validate_on",
        "train_size",
        "label_noise",
        "label_column",
        "data_dir",
        "train_split",
        "test_split",
    ],
    "model": ["model", "hidden", "conv_filters", "cnn_dense", "activation", "last_activation"],
    "regularizers": ["reg", "all_layers", "layers", "regularizer"],
    "optimization": [
        "epochs",
        "batch_size",
        "optimizer",
        "learning_rate",
        "momentum",
        "nesterov",
        "lr_schedule",
        "warmup_epochs",
        "lr_decay_epochs",
        "lr_decay_factor",
        "early_stopping_patience",
        "early_stopping_min_delta",
        "early_stopping_monitor",
        "seed",
        "on_nan",
        "rollback_lr_factor",
        "max_rollbacks",
    ],
    "logging and checkpoints": [
        "logdir",
        "run_name",
        "log_every",
        "stats_every",
        "hist_every",
        "sparsity_threshold",
        "checkpoint_every",
        "keep_checkpoints",
        "progress",
        "hparams_experiment",
    ],
    "calibration and generalization measures": [
        "ece_bins",
        "sharpness_samples",
        "sharpness_delta",
        "sharpness_steps",
    ],
    "devices and cluster": [
        "device",
        "gpus",
        "cpu_devices",
        "mixed_precision",
        "xla",
        "cluster",
        "cluster_timeout",
        "port_base",
    ],
}

MAX_EPOCHS = 1_000_000  # the per-epoch history is allocated up front
MAX_SEED = 2**31 - 1
MAX_WIDTH = 65_536
MAX_ROWS = 2**31 - 1  # --train_size: rows are indexed with int32 on the device
MAX_ROLLBACKS = 1000  # each halves (by default) the learning rate: 1000 is far past useful
MAX_CLUSTER_TIMEOUT = 7 * 24 * 3600  # seconds; select() and gRPC refuse much larger timeouts
MAX_GPUS = 1024
NAME_MAX = 255  # bytes of one file name (Linux file systems)
MAX_ECE_BINS = 10_000
MAX_SHARPNESS_SAMPLES = 1000  # forward passes over the training split per search step
MAX_SHARPNESS_STEPS = 60  # bisection steps: 2**-60 of the interval is below float precision
MAX_LOGDIR = 3072  # bytes of --logdir, leaving room for the run name under PATH_MAX (4096)


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
    flags.DEFINE_float(
        "test_fraction", 0.2, "Test fraction held out (stratified) of sklearn and CSV data.", **d
    )
    flags.DEFINE_float(
        "val_fraction",
        0.2,
        "Validation fraction held out (stratified, seeded) of the training data; validation "
        "drives the val curves, the best epoch, early stopping and NaN rollback.",
        **d,
    )
    flags.DEFINE_enum(
        "validate_on",
        "val",
        ["val", "test"],
        "val: a held-out validation split (--val_fraction). test: validate on the test split, "
        "as the tutorial did (its configs/ say so); no selection is then honest.",
        **d,
    )
    flags.DEFINE_integer(
        "train_size",
        0,
        "Train on a stratified, seeded subsample of N training rows (0: all). The validation "
        "and test splits do not change.",
        **d,
    )
    flags.DEFINE_float(
        "label_noise",
        0.0,
        "Flip this seeded fraction of training and validation labels to another class (test "
        "labels stay clean).",
        **d,
    )
    flags.DEFINE_string("label_column", "label", "Label column of a csv:<path> dataset.", **d)
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data_dir for tfds:<name>.", **d)
    flags.DEFINE_string("train_split", "train", "tfds split used for training.", **d)
    flags.DEFINE_string(
        "test_split",
        "",
        "tfds split used for test; empty: 'test' if the dataset has one, else the last "
        "--test_fraction of --train_split.",
        **d,
    )
    # The model.
    flags.DEFINE_string("model", "mlp", "mlp (the tutorial's) or cnn (image data).", **d)
    flags.DEFINE_list("hidden", ["512", "256", "128", "64", "32"], "MLP hidden widths.", **d)
    flags.DEFINE_list("conv_filters", ["32", "64"], "CNN conv block filters.", **d)
    flags.DEFINE_list("cnn_dense", ["128"], "CNN dense hidden widths after the conv blocks.", **d)
    flags.DEFINE_enum(
        "activation", "tanh", ACTIVATIONS, "Activation of every hidden layer but the last.", **d
    )
    flags.DEFINE_enum(
        "last_activation",
        "relu",
        ACTIVATIONS,
        "Activation of the last hidden layer (the tutorial uses relu there).",
        **d,
    )
    # Regularization.
    names = ",".join(["none", *regularizers.REGISTRY])
    flags.DEFINE_list(
        "reg",
        ["none"],
        f"Comma list of {names} (they combine). Without --all_layers or --layers each goes "
        "where the tutorial put it: L1/L2 on the first Dense, Dropout after the first hidden "
        "layer, BatchNorm after the second.",
        **d,
    )
    flags.DEFINE_bool("all_layers", False, "Put each placed --reg on every hidden layer.", **d)
    flags.DEFINE_list(
        "layers", [], "Hidden-layer indices (0-based) that get each placed --reg, e.g. 0,2.", **d
    )
    flags.DEFINE_multi_string(
        "regularizer",
        [],
        "One regularizer with its own layers and strengths, repeatable: "
        "NAME[@LAYERS][,PARAM=VALUE...], LAYERS = all | 2 | 0-1 | 0+2, list values joined by + "
        "(e.g. --regularizer=l1@0-1,l1=0.001 --regularizer=dropout@all,dropout_rate=0.3).",
        **d,
    )
    for _, p in regularizers.all_params():
        _define_param(p, fv)
    # Optimization.
    flags.DEFINE_integer("epochs", 350, "Training epochs.", **d)
    flags.DEFINE_integer("batch_size", 128, "Global batch size (over all replicas).", **d)
    flags.DEFINE_enum(
        "optimizer",
        "sgd",
        OPTIMIZERS,
        "Keras optimizer: sgd, momentum (SGD with --momentum, --nesterov), adam, adamw (Adam "
        "with decoupled --weight_decay: needs --reg=weight_decay), rmsprop.",
        **d,
    )
    flags.DEFINE_float("learning_rate", 0.01, "(Peak) learning rate.", **d)
    flags.DEFINE_float("momentum", 0.9, "Momentum of --optimizer=momentum.", **d)
    flags.DEFINE_bool("nesterov", False, "Nesterov momentum for --optimizer=momentum.", **d)
    flags.DEFINE_enum(
        "lr_schedule",
        "constant",
        ["constant", "cosine", "step"],
        "Learning-rate schedule over the run (Keras schedules, per step).",
        **d,
    )
    flags.DEFINE_integer(
        "warmup_epochs", 0, "Linear warm-up from 0 to --learning_rate over these epochs.", **d
    )
    flags.DEFINE_list(
        "lr_decay_epochs",
        [],
        "--lr_schedule=step: epochs after which the rate is multiplied by --lr_decay_factor; "
        "empty: 50% and 75% of --epochs.",
        **d,
    )
    flags.DEFINE_float("lr_decay_factor", 0.1, "--lr_schedule=step: factor per decay.", **d)
    flags.DEFINE_integer(
        "early_stopping_patience",
        0,
        "Stop after this many epochs without improvement of --early_stopping_monitor on the "
        "validation split and restore the best weights (0: off).",
        **d,
    )
    flags.DEFINE_float(
        "early_stopping_min_delta", 0.0, "Smallest change that counts as improvement.", **d
    )
    flags.DEFINE_enum(
        "early_stopping_monitor",
        "val_loss",
        ["val_loss", "val_accuracy"],
        "What early stopping watches (validation data loss, or accuracy).",
        **d,
    )
    flags.DEFINE_integer(
        "seed", 0, "Seed of the splits, initial weights, shuffling, Dropout, noise.", **d
    )
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
    flags.DEFINE_integer("checkpoint_every", 50, "Epochs between checkpoints.", **d)
    flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept in the run directory.", **d)
    flags.DEFINE_enum(
        "progress",
        "auto",
        ["auto", "bar", "lines"],
        "auto: a progress bar on a terminal, timestamped lines in batch jobs.",
        **d,
    )
    # Calibration and generalization measures (docs/measures.md), computed after training.
    flags.DEFINE_integer(
        "ece_bins", 15, "Equal-width confidence bins of the expected calibration error.", **d
    )
    flags.DEFINE_integer(
        "sharpness_samples",
        0,
        "Noise draws per step of the sharpness search at the end of a run (each a pass over the "
        "training split); 0 skips the sharpness measure.",
        **d,
    )
    flags.DEFINE_float(
        "sharpness_delta",
        0.1,
        "Sharpness: the training-accuracy drop the weight noise's sigma is searched for.",
        **d,
    )
    flags.DEFINE_integer("sharpness_steps", 15, "Bisection steps of the sharpness search.", **d)
    flags.DEFINE_bool(
        "hparams_experiment",
        True,
        "Write the run's HParams columns beside its values. A sweep turns it off and writes "
        "one experiment for all its runs (TensorBoard reads only one).",
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
    _explain_parse_errors(fv)


def _define_param(p, fv):
    """A regularizer's Param as a flag (defined here, so it is one of train.py's key flags)."""
    d = dict(flag_values=fv)
    if p.kind == "float":
        flags.DEFINE_float(p.name, p.default, p.help, **d)
    elif p.kind == "int":
        flags.DEFINE_integer(p.name, p.default, p.help, **d)
    elif p.kind == "bool":
        flags.DEFINE_bool(p.name, p.default, p.help, **d)
    elif p.kind == "enum":
        flags.DEFINE_enum(p.name, p.default, list(p.choices), p.help, **d)
    elif p.kind == "list":
        flags.DEFINE_list(p.name, list(p.default), p.help, **d)
    else:
        flags.DEFINE_list(p.name, [f"{v:g}" for v in p.default], p.help, **d)

    def ok(value):
        if p.kind == "float_list":
            try:
                value = [float(v) for v in value]
            except ValueError:
                return False
        return p.valid(value)

    flags.register_validator(p.name, ok, message=p.message, flag_values=fv)


def _explain_parse_errors(fv):
    """absl's own parse errors ("invalid literal for int() with base 10: 'x'") also say what
    the flag takes, e.g. "...; --epochs takes an integer, e.g. --epochs=350"."""
    for flag in fv.get_key_flags_for_module(__name__):
        kind = framework_internals.parser_kind(flag)
        if kind not in ("IntegerParser", "FloatParser", "BooleanParser"):
            continue  # enums list their values; lists are checked by their validators
        name, default = flag.name, flag.default
        if kind == "BooleanParser":
            hint = f"--{name} takes true or false: --{name}, --no{name}, --{name}=false"
        else:
            what = "an integer" if kind == "IntegerParser" else "a number"
            example = 1 if default is None else default
            hint = f"--{name} takes {what}, e.g. --{name}={example}"

        def parse(own, argument, hint=hint, kind=kind):
            try:
                return type(own).parse(own, argument)
            except (TypeError, ValueError) as e:
                if kind == "BooleanParser":  # absl's text is a tuple: ('Non-boolean ...', x)
                    raise ValueError(hint) from e
                raise ValueError(f"{e}; {hint}") from e

        framework_internals.wrap_flag_parser(flag, parse)


_INT = re.compile(r"\s*-?[0-9]+\s*")  # ASCII digits: str.isdigit() also takes '²', int() not


def _is_int_list(values):
    return all(_INT.fullmatch(v) for v in values)


def _gpus_ok(v):
    """'' (all), a count >= 1, or a comma list of distinct GPU indices."""
    if v == "":
        return True
    values = v.split(",")
    if not _is_int_list(values):
        return False
    numbers = [int(x) for x in values]
    if len(numbers) == 1:
        return 1 <= numbers[0] <= MAX_GPUS
    return all(0 <= x < MAX_GPUS for x in numbers) and len(set(numbers)) == len(numbers)


def _logdir_ok(v):
    if not v.strip() or len(v.encode()) > MAX_LOGDIR:
        return False
    return all(len(part.encode()) <= NAME_MAX for part in v.split("/"))


def _finite(v):
    return v is not None and math.isfinite(v)


def _register_validators(fv):
    def check(name, predicate, message):
        flags.register_validator(name, predicate, message=message, flag_values=fv)

    names = ["none", *regularizers.REGISTRY]
    check(
        "reg",
        lambda v: bool(v) and set(v) <= set(names) and (v == ["none"] or "none" not in v),
        f"--reg takes a comma list of {','.join(names)} (or none alone)",
    )
    check("epochs", lambda v: 0 < v <= MAX_EPOCHS, f"--epochs must be in 1..{MAX_EPOCHS}")
    check("batch_size", lambda v: 0 < v <= 2**24, "--batch_size must be in 1..16777216")
    check("learning_rate", lambda v: _finite(v) and v > 0, "--learning_rate must be > 0 and finite")
    check("momentum", lambda v: _finite(v) and 0 <= v < 1, "--momentum must be in [0, 1)")
    check(
        "warmup_epochs",
        lambda v: 0 <= v < MAX_EPOCHS,
        "--warmup_epochs must be >= 0 and smaller than --epochs",
    )
    check(
        "lr_decay_epochs",
        lambda v: _is_int_list(v) and all(0 < int(x) < MAX_EPOCHS for x in v),
        "--lr_decay_epochs must be a comma list of epochs > 0 and below --epochs, e.g. 100,150",
    )
    check(
        "lr_decay_factor",
        lambda v: _finite(v) and 0 < v <= 1,
        "--lr_decay_factor must be in (0, 1]",
    )
    check("seed", lambda v: 0 <= v <= MAX_SEED, f"--seed must be in 0..{MAX_SEED}")
    check(
        "test_fraction",
        lambda v: _finite(v) and 0 < v < 1,
        "--test_fraction must be in (0, 1)",
    )
    check(
        "val_fraction",
        lambda v: _finite(v) and 0 < v < 1,
        "--val_fraction must be in (0, 1) (--validate_on=test validates on the test split)",
    )
    check(
        "train_size",
        lambda v: 0 <= v <= MAX_ROWS,
        f"--train_size must be >= 0 and at most {MAX_ROWS} (0: all training rows)",
    )
    check("label_noise", lambda v: _finite(v) and 0 <= v < 1, "--label_noise must be in [0, 1)")
    check(
        "early_stopping_patience",
        lambda v: 0 <= v <= MAX_EPOCHS,
        f"--early_stopping_patience must be >= 0 and at most {MAX_EPOCHS} epochs (0: off)",
    )
    check(
        "early_stopping_min_delta",
        lambda v: _finite(v) and v >= 0,
        "--early_stopping_min_delta must be >= 0",
    )
    widths = f"positive integers up to {MAX_WIDTH}"
    check(
        "hidden",
        lambda v: bool(v) and _is_int_list(v) and all(0 < int(x) <= MAX_WIDTH for x in v),
        f"--hidden must be a comma list of {widths}, e.g. 512,256",
    )
    check(
        "conv_filters",
        lambda v: bool(v) and _is_int_list(v) and all(0 < int(x) <= MAX_WIDTH for x in v),
        f"--conv_filters must be a comma list of {widths}, e.g. 32,64",
    )
    check(
        "cnn_dense",
        lambda v: _is_int_list(v) and all(0 < int(x) <= MAX_WIDTH for x in v),
        f"--cnn_dense must be a comma list of {widths}, e.g. 128",
    )
    check(
        "layers",
        lambda v: _is_int_list(v) and all(int(x) >= 0 for x in v),
        "--layers must be a comma list of hidden-layer indices >= 0, e.g. 0,2",
    )
    epochs = f"at most {MAX_EPOCHS} epochs"
    check(
        "log_every",
        lambda v: 0 <= v <= MAX_EPOCHS,
        f"--log_every must be >= 0 and {epochs} (0 turns summaries off)",
    )
    check(
        "stats_every",
        lambda v: v is None or 0 <= v <= MAX_EPOCHS,
        f"--stats_every must be >= 0 and {epochs} (0 turns them off)",
    )
    check(
        "hist_every",
        lambda v: 0 <= v <= MAX_EPOCHS,
        f"--hist_every must be >= 0 and {epochs} (0 turns histograms off)",
    )
    check(
        "sparsity_threshold",
        lambda v: _finite(v) and v > 0,
        "--sparsity_threshold must be > 0",
    )
    check(
        "checkpoint_every",
        lambda v: 0 < v <= MAX_EPOCHS,
        f"--checkpoint_every must be > 0 and {epochs}",
    )
    check("keep_checkpoints", lambda v: 0 < v <= 1000, "--keep_checkpoints must be in 1..1000")
    check("cpu_devices", lambda v: 0 < v <= 64, "--cpu_devices must be in 1..64")
    check(
        "cluster_timeout",
        lambda v: 0 < v <= MAX_CLUSTER_TIMEOUT,
        f"--cluster_timeout must be > 0 and at most {MAX_CLUSTER_TIMEOUT} seconds (a week)",
    )
    check(
        "rollback_lr_factor",
        lambda v: _finite(v) and 0 < v < 1,
        "--rollback_lr_factor must be in (0, 1)",
    )
    check(
        "max_rollbacks",
        lambda v: 0 <= v <= MAX_ROLLBACKS,
        f"--max_rollbacks must be >= 0 and at most {MAX_ROLLBACKS}",
    )
    check("port_base", lambda v: 0 <= v < 65536, "--port_base must be in 0..65535")
    check(
        "gpus",
        _gpus_ok,
        "--gpus must be a count >= 1 (e.g. 2: the first two) or a comma list of distinct GPU "
        "indices (e.g. 0,2); --device=cpu uses none",
    )
    check(
        "run_name",
        lambda v: "/" not in v and v not in (".", "..") and len(v.encode()) <= 200,
        "--run_name must be a plain directory name (no '/', at most 200 bytes)",
    )
    check(
        "logdir",
        _logdir_ok,
        f"--logdir must not be empty, and must be a path of at most {MAX_LOGDIR} bytes whose "
        f"names are at most {NAME_MAX} bytes each",
    )
    check(
        "ece_bins",
        lambda v: 0 < v <= MAX_ECE_BINS,
        f"--ece_bins must be in 1..{MAX_ECE_BINS}",
    )
    check(
        "sharpness_samples",
        lambda v: 0 <= v <= MAX_SHARPNESS_SAMPLES,
        f"--sharpness_samples must be in 0..{MAX_SHARPNESS_SAMPLES} (0: no sharpness measure)",
    )
    check(
        "sharpness_delta",
        lambda v: _finite(v) and 0 < v < 1,
        "--sharpness_delta must be in (0, 1): a drop of training accuracy",
    )
    check(
        "sharpness_steps",
        lambda v: 0 < v <= MAX_SHARPNESS_STEPS,
        f"--sharpness_steps must be in 1..{MAX_SHARPNESS_STEPS}",
    )
    check(
        "label_column",
        lambda v: bool(v.strip()),
        "--label_column must name a column of the CSV file's header",
    )
    check("train_split", lambda v: bool(v.strip()), "--train_split must name a tfds split")
    check(
        "data_dir",
        lambda v: v is None or bool(v.strip()),
        "--data_dir must not be empty (leave it out for tensorflow-datasets' default)",
    )
    flags.register_multi_flags_validator(
        ["layers", "all_layers"],
        lambda f: not (f["layers"] and f["all_layers"]),
        message="--layers and --all_layers exclude each other: pick one",
        flag_values=fv,
    )


def idle_flags(values):
    """The flags that do nothing in the variant of these flag values (a regularizer's strength
    without that regularizer, --val_fraction with --validate_on=test, ...)."""
    return frozenset(name for name, matters, _ in _unused_flags(values) if not matters)


# Flags that only matter when another flag says so: (flag, does it matter?, what to do).
def _unused_flags(values):
    regs = set(values["reg"]) - {"none"}
    active = _all_regs(values) - {"none"}
    placed = [r for r in regs if r in regularizers.REGISTRY and regularizers.REGISTRY[r].placed()]
    dataset = values["dataset"]
    rules = [
        ("all_layers", bool(placed), "it places the --reg regularizers, and none is placed"),
        ("layers", bool(placed), "it places the --reg regularizers, and none is placed"),
        ("label_column", dataset.startswith("csv:"), "it applies to --dataset=csv:<path>"),
        ("data_dir", dataset.startswith("tfds:"), "it applies to --dataset=tfds:<name>"),
        ("train_split", dataset.startswith("tfds:"), "it applies to --dataset=tfds:<name>"),
        ("test_split", dataset.startswith("tfds:"), "it applies to --dataset=tfds:<name>"),
        ("val_fraction", values["validate_on"] == "val", "--validate_on=test uses no val split"),
        ("hidden", values["model"] == "mlp", "it applies to --model=mlp"),
        ("conv_filters", values["model"] == "cnn", "it applies to --model=cnn"),
        ("cnn_dense", values["model"] == "cnn", "it applies to --model=cnn"),
        ("momentum", values["optimizer"] == "momentum", "it applies to --optimizer=momentum"),
        ("nesterov", values["optimizer"] == "momentum", "it applies to --optimizer=momentum"),
        ("lr_decay_epochs", values["lr_schedule"] == "step", "it applies to --lr_schedule=step"),
        ("lr_decay_factor", values["lr_schedule"] == "step", "it applies to --lr_schedule=step"),
        (
            "early_stopping_min_delta",
            values["early_stopping_patience"] > 0,
            "early stopping is off (--early_stopping_patience=0)",
        ),
        (
            "early_stopping_monitor",
            values["early_stopping_patience"] > 0,
            "early stopping is off (--early_stopping_patience=0)",
        ),
        ("rollback_lr_factor", values["on_nan"] == "rollback", "it applies to --on_nan=rollback"),
        ("max_rollbacks", values["on_nan"] == "rollback", "it applies to --on_nan=rollback"),
        ("stats_every", values["log_every"] > 0, "summaries are off (--log_every=0)"),
        ("hist_every", values["log_every"] > 0, "summaries are off (--log_every=0)"),
        ("gpus", values["device"] != "cpu", "--device=cpu uses no GPU"),
        ("sharpness_delta", values["sharpness_samples"] > 0, "--sharpness_samples is 0"),
        ("sharpness_steps", values["sharpness_samples"] > 0, "--sharpness_samples is 0"),
    ]
    for name, param in regularizers.all_params():
        rules.append((param.name, name in active, f"--reg has no {name}"))
    return rules


def check_consistency(fv):
    """One clear error for a flag given on the command line that does nothing in this variant,
    so a typo never trains the wrong variant silently; and for values that only fail together
    (or, without this, only once TensorFlow and the data are loaded)."""
    values = {name: fv[name].value for name in fv}
    _check_source(values)
    for name, matters, why in _unused_flags(values):
        if fv[name].present and not matters:
            raise UserError(f"--{name} does nothing here: {why}; drop it or change that")
    epochs = values["epochs"]
    if values["warmup_epochs"] >= epochs:
        raise UserError(f"--warmup_epochs must be smaller than --epochs ({epochs})")
    late = [int(e) for e in values["lr_decay_epochs"] if int(e) >= epochs]
    if values["lr_schedule"] == "step" and late:
        raise UserError(
            f"--lr_decay_epochs must be epochs below --epochs ({epochs}): the decay after epoch "
            f"{late[0]} would never happen"
        )
    if values["optimizer"] == "adamw" and "weight_decay" not in _all_regs(values):
        raise UserError(
            "--optimizer=adamw is Adam with decoupled weight decay: add --reg=weight_decay "
            "(strength --weight_decay), or use --optimizer=adam"
        )
    finalizers = [
        name
        for name in sorted(_all_regs(values))
        if name in regularizers.REGISTRY and regularizers.REGISTRY[name].finalizes_weights
    ]
    if finalizers and values["early_stopping_patience"] > 0:
        raise UserError(
            f"--reg={finalizers[0]} replaces the weights the run ends with, and early stopping "
            "restores its best ones: use one of them"
        )
    for name in sorted(_all_regs(values)):
        cls = regularizers.REGISTRY.get(name)
        if values["xla"] and cls is not None and cls.no_xla:
            raise UserError(f"--xla cannot compile --reg={name}: {cls.no_xla}; drop one of them")
    _check_spec_layers(values)


def _shown(value, limit=80):
    """A value as an error message quotes it: repr, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _check_source(values):
    """--dataset and --model name something that exists (else the error would come only after
    TensorFlow has started)."""
    import models
    from data import sklearn_sets

    dataset = values["dataset"]
    kind, colon, rest = dataset.partition(":")
    if colon and kind in ("tfds", "csv"):
        if not rest.strip():
            example = "tfds:mnist" if kind == "tfds" else "csv:data/train.csv"
            what = "a dataset name" if kind == "tfds" else "a file path"
            raise UserError(
                f"--dataset={kind}: needs {what} after the colon, e.g. --dataset={example}"
            )
    elif dataset not in sklearn_sets.NAMES:
        raise UserError(
            f"unknown --dataset={_shown(dataset)}: use one of {', '.join(sklearn_sets.NAMES)}, "
            "tfds:<name> or csv:<path>"
        )
    if values["model"] not in models.REGISTRY:
        raise UserError(
            f"unknown --model={_shown(values['model'])}: use one of {', '.join(models.REGISTRY)}"
        )


def _check_spec_layers(values):
    """--regularizer=NAME@LAYERS: layers the model has (regularizers.parse_spec would build a
    range as large as the number given: l1@0-99999999999 would exhaust the memory)."""
    import models

    n = models.num_hidden(_Values(values))
    for text in values["regularizer"]:
        head = text.split(",")[0].strip()
        name, at, layers = head.partition("@")
        cls = regularizers.REGISTRY.get(name)
        if not at or cls is None or not cls.placed():
            continue  # resolve() words those errors
        if not layers.strip():
            raise UserError(
                f"--regularizer={_shown(text)}: no layers after @; give all, an index (0), a "
                "range (0-2) or indices joined by + (0+2), or drop the @"
            )
        too_large = [int(d) for d in re.findall(r"[0-9]+", layers) if int(d) >= n]
        if too_large:
            raise UserError(
                f"--regularizer={_shown(text)}: {name}: layer {too_large[0]} is out of range: "
                f"the model has {n} hidden layers (indices 0..{n - 1})"
            )


class _Values:
    """Flag values by attribute, as models.num_hidden reads a RunConfig."""

    def __init__(self, values):
        self.__dict__.update(values)


def _all_regs(values):
    specs = {spec.split(",")[0].split("@")[0].strip() for spec in values["regularizer"]}
    return set(values["reg"]) | specs


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every train.py flag value, as stored in a run's config.json, and the flags' defaults."""

    values: dict
    defaults: dict = dataclasses.field(default_factory=dict, compare=False)

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

    def variant_hash(self):
        """8 hex digits of every trained value but the seed that differs from its default: equal
        for the seeds of a variant, and unchanged when a later version adds a flag."""
        identity = {
            k: v
            for k, v in self.trained_identity().items()
            if k != "seed" and (k not in self.defaults or v != self.defaults[k])
        }
        text = json.dumps(identity, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def to_json(self):
        return json.dumps(self.values, indent=2, sort_keys=True)


def _normalized(values):
    """Flag values as config.json stores them: numbers for numeric lists, --reg in order."""
    values = dict(values)
    for name in ("hidden", "conv_filters", "cnn_dense", "layers", "lr_decay_epochs"):
        values[name] = [int(v) for v in values[name]]
    for _, p in regularizers.all_params():
        if p.kind == "float_list":
            values[p.name] = [float(v) for v in values[p.name]]
    order = ["none", *regularizers.REGISTRY]
    values["reg"] = sorted(set(values["reg"]), key=order.index)
    if values["stats_every"] is None:
        values["stats_every"] = values["log_every"]
    return values


def config_from_flags(fv=flags.FLAGS):
    """The RunConfig of parsed flags; raises UserError for flags that do nothing here."""
    check_consistency(fv)
    names = sorted({f.name for f in fv.get_key_flags_for_module(__name__)})

    def plain(value):
        return list(value) if isinstance(value, list | tuple) else value

    values = _normalized({name: plain(fv[name].value) for name in names})
    defaults = _normalized({name: plain(fv[name].default) for name in names})
    return RunConfig(values, defaults)


def default_run_name(cfg, active):
    """A readable name from the flags that define the variant, the seed, and a short hash of
    the whole trained configuration, so runs that differ in any trained flag never collide."""
    parts = [cfg.dataset.replace(":", "-").replace("/", "-").replace(".", "-")[-60:], cfg.model]
    parts += regularizers.name_parts(active, cfg)
    parts += [f"{cfg.optimizer}-{cfg.learning_rate:g}", f"bs{cfg.batch_size}"]
    # The hash leaves the seed out (it names the variant), so a long readable part is cut
    # before the seed, never the seed itself: seeds of a variant must not share a directory.
    seed = f"s{cfg.seed}"
    return "_".join(parts)[: 150 - len(seed) - 1] + f"_{seed}_" + cfg.variant_hash()


def help_text(fv, program="train.py"):
    """train.py --help: the flags in groups; --helpfull lists absl's own flags too."""
    lines = [f"usage: {program} [--flag=value ...]   (--helpfull: every flag, absl's too)", ""]
    grouped = {k: list(v) for k, v in GROUPS.items()}
    grouped["regularizers"] += [p.name for _, p in regularizers.all_params()]
    for group, names in grouped.items():
        lines.append(f"{group}:")
        for name in names:
            flag = fv[name]
            default = flag.default_as_str or "''"
            lines.append(f"  --{name} (default: {default})")
            lines.append(f"      {flag.help}")
        lines.append("")
    return "\n".join(lines)
