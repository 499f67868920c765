"""train.py's model flags: which network and its widths (flagdef.Flag records)."""

import functools

from flagdef import Flag, int_list, is_int_list, shown

ACTIVATIONS = ("tanh", "relu", "elu", "sigmoid", "gelu")
MAX_WIDTH = 65_536
_WIDTHS = f"positive integers up to {MAX_WIDTH}"

_flag = functools.partial(Flag, group="model")


def _widths(v):
    return is_int_list(v) and all(0 < int(x) <= MAX_WIDTH for x in v)


def _model_exists(values):
    import models

    if values["model"] not in models.REGISTRY:
        return f"unknown --model={shown(values['model'])}: use one of {', '.join(models.REGISTRY)}"
    return None


RECORDS = (
    _flag(
        "model",
        "mlp",
        "mlp (the tutorial's) or cnn (image data).",
        check_with=_model_exists,
        hparam=True,
    ),
    _flag(
        "hidden",
        ["512", "256", "128", "64", "32"],
        "MLP hidden widths.",
        kind="list",
        check=lambda v: bool(v) and _widths(v),
        message=f"--hidden must be a comma list of {_WIDTHS}, e.g. 512,256",
        applies=lambda values: values["model"] == "mlp",
        idle_why="it applies to --model=mlp",
        hparam=True,
        normalize=int_list,
    ),
    _flag(
        "conv_filters",
        ["32", "64"],
        "CNN conv block filters.",
        kind="list",
        check=lambda v: bool(v) and _widths(v),
        message=f"--conv_filters must be a comma list of {_WIDTHS}, e.g. 32,64",
        applies=lambda values: values["model"] == "cnn",
        idle_why="it applies to --model=cnn",
        normalize=int_list,
    ),
    _flag(
        "cnn_dense",
        ["128"],
        "CNN dense hidden widths after the conv blocks.",
        kind="list",
        check=_widths,
        message=f"--cnn_dense must be a comma list of {_WIDTHS}, e.g. 128",
        applies=lambda values: values["model"] == "cnn",
        idle_why="it applies to --model=cnn",
        normalize=int_list,
    ),
    _flag(
        "activation",
        "tanh",
        "Activation of every hidden layer but the last.",
        kind="enum",
        choices=ACTIVATIONS,
    ),
    _flag(
        "last_activation",
        "relu",
        "Activation of the last hidden layer (the tutorial uses relu there).",
        kind="enum",
        choices=ACTIVATIONS,
    ),
)
