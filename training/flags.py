"""train.py's optimization flags: epochs, batches, optimizer, schedule, early stopping, the seed
and what a NaN loss does (flagdef.Flag records)."""

import functools

from flagdef import Flag, finite, int_list, is_int_list

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
MAX_EPOCHS = 1_000_000  # the per-epoch history is allocated up front
MAX_SEED = 2**31 - 1
MAX_ROLLBACKS = 1000  # each halves (by default) the learning rate: 1000 is far past useful

_flag = functools.partial(Flag, group="optimization")


def _adamw_has_decay(values):
    """--optimizer=adamw needs a regularizer that gives the optimizer its decoupled decay."""
    from regularizers import REGISTRY
    from regularizers.flags import active_names

    if values["optimizer"] != "adamw":
        return None
    decays = [name for name, cls in REGISTRY.items() if cls.decoupled_weight_decay]
    if set(decays) & active_names(values):
        return None
    if not decays:
        return "--optimizer=adamw is Adam with decoupled weight decay: use --optimizer=adam"
    name = decays[0]
    return (
        f"--optimizer=adamw is Adam with decoupled weight decay: add --reg={name} "
        f"(strength --{REGISTRY[name].strength_param}), or use --optimizer=adam"
    )


def _warmup_within(values):
    epochs = values["epochs"]
    if values["warmup_epochs"] >= epochs:
        return f"--warmup_epochs must be smaller than --epochs ({epochs})"
    return None


def _decays_within(values):
    epochs = values["epochs"]
    late = [int(e) for e in values["lr_decay_epochs"] if int(e) >= epochs]
    if values["lr_schedule"] == "step" and late:
        return (
            f"--lr_decay_epochs must be epochs below --epochs ({epochs}): the decay after epoch "
            f"{late[0]} would never happen"
        )
    return None


def _no_finalizer(values):
    """Early stopping restores its best weights; a regularizer's finalize() replaces them."""
    from regularizers import REGISTRY
    from regularizers.flags import active_names

    finalizers = [
        name
        for name in sorted(active_names(values))
        if name in REGISTRY and REGISTRY[name].finalizes_weights
    ]
    if finalizers and values["early_stopping_patience"] > 0:
        return (
            f"--reg={finalizers[0]} replaces the weights the run ends with, and early stopping "
            "restores its best ones: use one of them"
        )
    return None


def _momentum(values):
    return values["optimizer"] == "momentum"


def _step(values):
    return values["lr_schedule"] == "step"


def _early_stopping(values):
    return values["early_stopping_patience"] > 0


def _rollback(values):
    return values["on_nan"] == "rollback"


RECORDS = (
    _flag(
        "epochs",
        350,
        "Training epochs.",
        kind="integer",
        check=lambda v: 0 < v <= MAX_EPOCHS,
        message=f"--epochs must be in 1..{MAX_EPOCHS}",
        hparam=True,
    ),
    _flag(
        "batch_size",
        128,
        "Global batch size (over all replicas).",
        kind="integer",
        check=lambda v: 0 < v <= 2**24,
        message="--batch_size must be in 1..16777216",
        hparam=True,
    ),
    _flag(
        "optimizer",
        "sgd",
        "Keras optimizer: sgd, momentum (SGD with --momentum, --nesterov), adam, adamw (Adam "
        "with decoupled --weight_decay: needs --reg=weight_decay), rmsprop.",
        kind="enum",
        choices=OPTIMIZERS,
        check_with=_adamw_has_decay,
        hparam=True,
    ),
    _flag(
        "learning_rate",
        0.01,
        "(Peak) learning rate.",
        kind="float",
        check=lambda v: finite(v) and v > 0,
        message="--learning_rate must be > 0 and finite",
        hparam=True,
    ),
    _flag(
        "momentum",
        0.9,
        "Momentum of --optimizer=momentum.",
        kind="float",
        check=lambda v: finite(v) and 0 <= v < 1,
        message="--momentum must be in [0, 1)",
        applies=_momentum,
        idle_why="it applies to --optimizer=momentum",
    ),
    _flag(
        "nesterov",
        False,
        "Nesterov momentum for --optimizer=momentum.",
        kind="bool",
        applies=_momentum,
        idle_why="it applies to --optimizer=momentum",
    ),
    _flag(
        "lr_schedule",
        "constant",
        "Learning-rate schedule over the run (Keras schedules, per step).",
        kind="enum",
        choices=("constant", "cosine", "step"),
        hparam=True,
    ),
    _flag(
        "warmup_epochs",
        0,
        "Linear warm-up from 0 to --learning_rate over these epochs.",
        kind="integer",
        check=lambda v: 0 <= v < MAX_EPOCHS,
        message="--warmup_epochs must be >= 0 and smaller than --epochs",
        check_with=_warmup_within,
    ),
    _flag(
        "lr_decay_epochs",
        [],
        "--lr_schedule=step: epochs after which the rate is multiplied by --lr_decay_factor; "
        "empty: 50% and 75% of --epochs.",
        kind="list",
        check=lambda v: is_int_list(v) and all(0 < int(x) < MAX_EPOCHS for x in v),
        message="--lr_decay_epochs must be a comma list of epochs > 0 and below --epochs, "
        "e.g. 100,150",
        check_with=_decays_within,
        applies=_step,
        idle_why="it applies to --lr_schedule=step",
        normalize=int_list,
    ),
    _flag(
        "lr_decay_factor",
        0.1,
        "--lr_schedule=step: factor per decay.",
        kind="float",
        check=lambda v: finite(v) and 0 < v <= 1,
        message="--lr_decay_factor must be in (0, 1]",
        applies=_step,
        idle_why="it applies to --lr_schedule=step",
    ),
    _flag(
        "early_stopping_patience",
        0,
        "Stop after this many epochs without improvement of --early_stopping_monitor on the "
        "validation split and restore the best weights (0: off).",
        kind="integer",
        check=lambda v: 0 <= v <= MAX_EPOCHS,
        message=f"--early_stopping_patience must be >= 0 and at most {MAX_EPOCHS} epochs (0: off)",
        check_with=_no_finalizer,
        hparam=True,
    ),
    _flag(
        "early_stopping_min_delta",
        0.0,
        "Smallest change that counts as improvement.",
        kind="float",
        check=lambda v: finite(v) and v >= 0,
        message="--early_stopping_min_delta must be >= 0",
        applies=_early_stopping,
        idle_why="early stopping is off (--early_stopping_patience=0)",
    ),
    _flag(
        "early_stopping_monitor",
        "val_loss",
        "What early stopping watches (validation data loss, or accuracy).",
        kind="enum",
        choices=("val_loss", "val_accuracy"),
        applies=_early_stopping,
        idle_why="early stopping is off (--early_stopping_patience=0)",
    ),
    _flag(
        "seed",
        0,
        "Seed of the splits, initial weights, shuffling, Dropout, noise.",
        kind="integer",
        check=lambda v: 0 <= v <= MAX_SEED,
        message=f"--seed must be in 0..{MAX_SEED}",
        per_run=True,
        sweep_sets="seeds come from --seeds",
        hparam=True,
    ),
    _flag(
        "on_nan",
        "stop",
        "On a NaN/inf loss: stop with status 'diverged', or roll back to the last good "
        "checkpoint with the learning rate times --rollback_lr_factor.",
        kind="enum",
        choices=("stop", "rollback"),
    ),
    _flag(
        "rollback_lr_factor",
        0.5,
        "Learning-rate factor per rollback.",
        kind="float",
        check=lambda v: finite(v) and 0 < v < 1,
        message="--rollback_lr_factor must be in (0, 1)",
        applies=_rollback,
        idle_why="it applies to --on_nan=rollback",
    ),
    _flag(
        "max_rollbacks",
        3,
        "Rollbacks before the run counts as diverged.",
        kind="integer",
        check=lambda v: 0 <= v <= MAX_ROLLBACKS,
        message=f"--max_rollbacks must be >= 0 and at most {MAX_ROLLBACKS}",
        applies=_rollback,
        idle_why="it applies to --on_nan=rollback",
    ),
)
