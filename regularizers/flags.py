"""train.py's regularizer flags: which regularizers and where (flagdef.Flag records); each
regularizer's own strengths are its Params, which become flags here too."""

import functools
import re

from flagdef import Flag, is_int_list, shown
from regularizers.base import REGISTRY

_flag = functools.partial(Flag, group="regularizers")
_PLACEMENT_WHY = "it places the --reg regularizers, and none is placed"


def _names():
    return ["none", *REGISTRY]


def active_names(values):
    """The regularizers --reg and --regularizer name (and 'none' when --reg says so)."""
    specs = {spec.split(",")[0].split("@")[0].strip() for spec in values["regularizer"]}
    return set(values["reg"]) | specs


def _places(values):
    """Whether a --reg regularizer is placed on layers (what --all_layers and --layers place)."""
    regs = set(values["reg"]) - {"none"}
    return any(r in REGISTRY and REGISTRY[r].placed() for r in regs)


def _registry_order(value, values):
    order = _names()
    return sorted(set(value), key=order.index)


class _Values:
    """Flag values by attribute, as models.num_hidden reads a RunConfig."""

    def __init__(self, values):
        self.__dict__.update(values)


def _spec_layers_exist(values):
    """--regularizer=NAME@LAYERS: layers the model has (parse_spec would build a range as
    large as the number given: l1@0-99999999999 would exhaust the memory)."""
    import models

    n = models.num_hidden(_Values(values))
    for text in values["regularizer"]:
        head = text.split(",")[0].strip()
        name, at, layers = head.partition("@")
        cls = REGISTRY.get(name)
        if not at or cls is None or not cls.placed():
            continue  # resolve() words those errors
        if not layers.strip():
            return (
                f"--regularizer={shown(text)}: no layers after @; give all, an index (0), a "
                "range (0-2) or indices joined by + (0+2), or drop the @"
            )
        too_large = [int(d) for d in re.findall(r"[0-9]+", layers) if int(d) >= n]
        if too_large:
            return (
                f"--regularizer={shown(text)}: {name}: layer {too_large[0]} is out of range: "
                f"the model has {n} hidden layers (indices 0..{n - 1})"
            )
    return None


RECORDS = (
    _flag(
        "reg",
        ["none"],
        lambda: (
            f"Comma list of {','.join(_names())} (they combine). Without --all_layers or "
            "--layers each goes where the tutorial put it: L1/L2 on the first Dense, Dropout "
            "after the first hidden layer, BatchNorm after the second."
        ),
        kind="list",
        check=lambda v: bool(v) and set(v) <= set(_names()) and (v == ["none"] or "none" not in v),
        message=lambda: f"--reg takes a comma list of {','.join(_names())} (or none alone)",
        hparam=True,
        normalize=_registry_order,
    ),
    _flag(
        "all_layers",
        False,
        "Put each placed --reg on every hidden layer.",
        kind="bool",
        applies=_places,
        idle_why=_PLACEMENT_WHY,
        hparam=True,
    ),
    _flag(
        "layers",
        [],
        "Hidden-layer indices (0-based) that get each placed --reg, e.g. 0,2.",
        kind="list",
        check=lambda v: is_int_list(v) and all(int(x) >= 0 for x in v),
        message="--layers must be a comma list of hidden-layer indices >= 0, e.g. 0,2",
        excludes="all_layers",
        applies=_places,
        idle_why=_PLACEMENT_WHY,
        hparam=True,
        normalize=lambda value, values: [int(v) for v in value],
    ),
    _flag(
        "regularizer",
        [],
        "One regularizer with its own layers and strengths, repeatable: "
        "NAME[@LAYERS][,PARAM=VALUE...], LAYERS = all | 2 | 0-1 | 0+2, list values joined by + "
        "(e.g. --regularizer=l1@0-1,l1=0.001 --regularizer=dropout@all,dropout_rate=0.3).",
        kind="multi_string",
        check_with=_spec_layers_exist,
        hparam=True,
    ),
)

_KINDS = {"float": "float", "int": "integer", "bool": "bool", "enum": "enum", "list": "list"}


def param_record(reg_name, p):
    """A regularizer's Param as a flag: it applies when its regularizer is active."""

    def ok(value):
        if p.kind == "float_list":
            try:
                value = [float(v) for v in value]
            except ValueError:
                return False
        return p.valid(value)

    numbers = p.kind == "float_list"
    if numbers:
        default = [f"{v:g}" for v in p.default]
    else:
        default = list(p.default) if p.kind == "list" else p.default
    return _flag(
        p.name,
        default,
        p.help,
        kind="list" if numbers else _KINDS[p.kind],
        choices=tuple(p.choices),
        check=ok,
        message=p.message,
        applies=lambda values: reg_name in active_names(values),
        idle_why=f"--reg has no {reg_name}",
        hparam=True,
        normalize=(lambda value, values: [float(v) for v in value]) if numbers else None,
        param_of=reg_name,
    )


def param_records():
    """Every registered regularizer's Params, as flags (in registry order)."""
    return tuple(param_record(name, p) for name, cls in REGISTRY.items() for p in cls.params)
