"""Regularizers as plug-ins: every module in this package registers one (or a family).

    from regularizers import REGISTRY, resolve
    active = resolve(cfg, num_hidden)   # [Regularizer], placed and validated for this model

Adding one: a module here with a `@register`ed `Regularizer` subclass, and its test.
"""

import importlib
import pkgutil

from cluster.tf_runtime import import_tensorflow

import_tensorflow()  # the plug-ins build Keras layers: load TF once, without its chatter

from errors import UserError  # noqa: E402
from regularizers.base import (  # noqa: E402
    NOISE,
    NORMALIZE,
    REGISTRY,
    WRAP,
    Param,
    Regularizer,
    register,
)

__all__ = [
    "NOISE",
    "NORMALIZE",
    "REGISTRY",
    "WRAP",
    "Param",
    "Regularizer",
    "all_params",
    "describe",
    "name_parts",
    "parse_spec",
    "register",
    "resolve",
]

_NOT_PLUGINS = {"base", "beta", "flags", "penalties", "step_seeds"}
MAX_LAYER_INDEX = 9999
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name not in _NOT_PLUGINS:
        importlib.import_module(f"{__name__}.{_info.name}")


def all_params():
    """[(regularizer name, Param)] of every registered regularizer: train.py's strength flags."""
    return [(name, p) for name, cls in REGISTRY.items() for p in cls.params]


def parse_spec(text):
    """'NAME[@LAYERS][,PARAM=VALUE...]' -> (name, layers or None, {param: value}).

    LAYERS is `all`, an index, a range `0-2`, or indices joined by `+` (`0+2`); list values use
    `+` too (`dropout_rate=0.5+0.3`), since `,` separates the items.
    """
    head, *items = [t.strip() for t in text.split(",")]
    name, _, layers_text = head.partition("@")
    if name not in REGISTRY or name == "none":
        raise UserError(
            f"--regularizer={text!r}: unknown regularizer {name!r}; use one of "
            f"{', '.join(n for n in REGISTRY if n != 'none')}"
        )
    cls = REGISTRY[name]
    layers = None
    if layers_text:
        if not cls.placed():
            raise UserError(f"--regularizer={text!r}: {name} is not placed on layers; drop @...")
        layers = _parse_layers(text, layers_text)
    params = {p.name: p for p in cls.params}
    values = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key not in params:
            known = ", ".join(params) or "none"
            raise UserError(
                f"--regularizer={text!r}: {item!r} is not PARAM=VALUE with a parameter of "
                f"{name} ({known})"
            )
        try:
            values[key] = params[key].parse(value)
        except ValueError as e:
            raise UserError(f"--regularizer={text!r}: {key}={value!r}: {e}") from e
    return name, layers, values


def _parse_layers(text, layers_text):
    if layers_text == "all":
        return "all"
    try:
        if "-" in layers_text:
            lo, hi = (int(v) for v in layers_text.split("-"))
            if lo > hi or lo < 0 or hi > MAX_LAYER_INDEX:  # no huge range built
                raise ValueError
            return tuple(range(lo, hi + 1))
        indices = tuple(sorted({int(v) for v in layers_text.split("+")}))
        if any(not 0 <= i <= MAX_LAYER_INDEX for i in indices):
            raise ValueError
        return indices
    except ValueError:
        raise UserError(
            f"--regularizer={text!r}: layers {layers_text!r} must be all, an index (0), a range "
            "(0-2) or indices joined by + (0+2)"
        ) from None


def resolve(cfg, num_hidden):
    """The run's active regularizers, placed on the model's `num_hidden` hidden layers."""
    bad = [i for i in cfg.layers if not 0 <= i < num_hidden]
    if bad:
        raise UserError(
            f"--layers index {bad[0]} is out of range: the model has {num_hidden} "
            f"hidden layers (indices 0..{num_hidden - 1})"
        )
    wanted = {name: (None, {}) for name in cfg.regs}
    for text in cfg.regularizer:
        name, layers, values = parse_spec(text)
        if name in wanted:
            how = "twice in --regularizer" if name not in cfg.regs else "in --reg and --regularizer"
            raise UserError(f"{name} is given {how}; give each regularizer once")
        wanted[name] = (layers, values)
    active = []
    for name, cls in REGISTRY.items():  # registry order: the same run, however flags are ordered
        if name not in wanted:
            continue
        spec_layers, spec_values = wanted[name]
        layers = _layers(cls, spec_layers, cfg, num_hidden, from_spec=name not in cfg.regs)
        values = {p.name: cfg.values[p.name] for p in cls.params}
        values.update(spec_values)
        reg = cls(layers, values)
        reg.check(num_hidden)
        active.append(reg)
    return active


def _layers(cls, spec_layers, cfg, num_hidden, *, from_spec):
    if not cls.placed():
        return ()
    if spec_layers is None and not from_spec:
        spec_layers = "all" if cfg.all_layers else tuple(sorted(set(cfg.layers))) or None
    if spec_layers == "all":
        return tuple(range(num_hidden))
    if spec_layers is not None:
        bad = [i for i in spec_layers if i >= num_hidden]
        if bad:
            raise UserError(
                f"{cls.name}: layer {bad[0]} is out of range: the model has {num_hidden} hidden "
                f"layers (indices 0..{num_hidden - 1})"
            )
        return spec_layers
    if cls.default_layers == "all":
        return tuple(range(num_hidden))
    return (min(cls.default_layers, num_hidden - 1),) if num_hidden else ()


def describe(active, cfg):
    """A readable label of a run's regularization, e.g. "L1 0.01 (all layers) + Dropout 0.5"."""
    if not active:
        return "no regularization"
    parts = []
    for reg in active:
        text = reg.describe()
        if reg.layers and cfg.all_layers and reg.name in cfg.regs:
            text += " (all layers)"
        elif reg.layers and (cfg.layers or reg.name not in cfg.regs):
            text += f" (layers {','.join(map(str, reg.layers))})"
        parts.append(text)
    return " + ".join(parts)


def name_parts(active, cfg):
    """Run-name parts: one per regularizer, then the placement flags."""
    parts = [reg.name_part() for reg in active] or ["none"]
    for reg in active:
        if reg.name not in cfg.regs and reg.layers:
            parts[parts.index(reg.name_part())] += "@" + "+".join(map(str, reg.layers))
    if cfg.all_layers:
        parts.append("all")
    elif cfg.layers:
        parts.append("layers" + "-".join(map(str, cfg.layers)))
    return parts
