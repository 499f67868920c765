"""Readable variant labels: a flagfile's '# label:' line, or the flags that differ from defaults."""

import re

LABEL_LINE = re.compile(r"^\s*#\s*label:\s*(.*\S)\s*$", re.IGNORECASE)


def from_flagfile(path):
    """The text of the flagfile's '# label: ...' comment line, or None."""
    with open(path) as f:
        for line in f:
            match = LABEL_LINE.match(line)
            if match:
                return match.group(1)
    return None


def value_text(value):
    if value in ("", [], ()):
        return "''"  # as train.py --help shows an empty default
    if isinstance(value, list | tuple):
        return ",".join(value_text(v) for v in value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)  # never two values as one
    return str(value)


def setting(name, value):
    """'l2=0.01'; a boolean reads as 'all_layers' or 'noall_layers', as train.py spells it."""
    if value is True:
        return name
    if value is False:
        return f"no{name}"
    return f"{name}={value_text(value)}"


def settings(values, defaults, order, given=(), skip=()):
    """Settings of `values` that were `given` or differ from train.py's `defaults`, in flag
    definition order (so 'reg=l1, l1=0.01' reads in the order train.py --help lists them)."""
    return [
        setting(name, values[name])
        for name in order
        if name in values
        and name not in skip
        and (name in given or values[name] != defaults.get(name))
    ]


def label(flagfile_label, own, grid, name="train.py defaults"):
    """A variant's label: its flagfile's label, else its `own` settings; then its grid values;
    its `name` when nothing else tells it apart.

    Flags that every run gets (--train_flag) belong to the protocol, not to a label.
    """
    parts = [flagfile_label] if flagfile_label else list(own)
    return ", ".join(parts + list(grid)) or name
