"""One train.py flag as a record: its definition, its check, and what it means for a run.

Each package declares the flags of the code it holds, next to that code: data/flags.py,
models/flags.py, regularizers/flags.py (a regularizer's strengths are its `Param`s),
training/flags.py, runs/flags.py, cluster/flags.py. options.py defines them on a FlagValues and
derives the rest from them: the --help groups, the does-nothing-here rule, the run-name identity,
the resume check, the HParams table and the sweep's per-run flags.
"""

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

KINDS = ("string", "integer", "float", "bool", "enum", "list", "multi_string")


@dataclasses.dataclass(frozen=True)
class Flag:
    """A flag of train.py. `values` below: {flag name: value} of every flag of the run."""

    name: str
    default: Any
    help: str | Callable[[], str]  # a callable: text that depends on the registries
    group: str  # the --help section
    kind: str = "string"  # one of KINDS
    choices: tuple = ()  # kind="enum"
    # Its own check: a predicate on the parsed value, and the error when it fails.
    check: Callable[[Any], bool] | None = None
    message: str | Callable[[], str] = ""
    excludes: str = ""  # a flag that may not be set (truthy) together with this one
    # A check of its value with the others': `values` -> an error message, or None.
    check_with: Callable[[dict], str | None] | None = None
    # Whether it changes what a run trains: it is part of the run name's hash and of the
    # identity a resumed run must match, and a sweep's --grid may vary it.
    trains: bool = True
    # The compiled training loop does not read it: runs that differ only in such flags share
    # one compiled loop in a sweep worker (training/reuse.py).
    per_run: bool = False
    # A sweep sets it on every run (why, as the sweep's error says it); configs may not.
    sweep_sets: str = ""
    # When it does something: `values` -> bool, and why it does nothing otherwise. Given on
    # the command line where it does nothing, it is an error ("--X does nothing here: why").
    applies: Callable[[dict], bool] | None = None
    idle_why: str = ""
    hparam: bool = False  # a column of TensorBoard's HParams table
    # Its value as config.json stores it: (value, values) -> value.
    normalize: Callable[[Any, dict], Any] | None = None
    param_of: str = ""  # the regularizer whose Param it is (they share --help's section)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"--{self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.applies is not None and not self.idle_why:
            raise ValueError(f"--{self.name}: `applies` needs `idle_why`")

    def text(self, field):
        """help or message as text (a callable one is called now)."""
        value = getattr(self, field)
        return value() if callable(value) else value


def int_list(value, values):
    """A comma list flag's values as numbers (config.json's form)."""
    return [int(v) for v in value]


def finite(value):
    return value is not None and math.isfinite(value)


_INT = re.compile(r"\s*-?[0-9]+\s*")  # ASCII digits: str.isdigit() also takes '²', int() not


def is_int_list(values):
    return all(_INT.fullmatch(v) for v in values)


def shown(value, limit=80):
    """A value as an error message quotes it: repr, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
