"""train.py's arguments as a sweep sees them: parsed fresh, the flags the sweep owns, identities."""

import hashlib
import json
import typing

from absl import flags

import options
from errors import UserError, not_utf8_text

# The sweep sets these on every run (their records' sweep_sets, and train.py's --flagfile); a
# config, --train_flag or --grid may not (why, to say so).
OWNED = {**options.SWEEP_SETS, "flagfile": "configs come from --configs"}


def fresh():
    """A FlagValues with train.py's flags and validators and nothing parsed."""
    fv = flags.FlagValues()
    options.define_flags(fv)
    return fv


def one_line(error):
    return " ".join(str(error).split())


def parse_flags(args, where):
    """Parses train.py `args` with train.py's flags and validators; returns the FlagValues."""
    fv = fresh()
    try:
        fv(["train.py", *args])
    except flags.Error as e:
        raise UserError(f"{where}: {one_line(e)}") from e
    except UnicodeDecodeError as e:  # absl reads flagfiles as UTF-8 text
        raise UserError(f"{where}: a flagfile is {not_utf8_text(e)}") from e
    return fv


def parse(args, where):
    """Parses a whole train.py command line as train.py would; returns (RunConfig, fv).

    Beyond the flags' validators, config_from_flags checks the flags together (e.g. a flag
    that does nothing in this variant), so this is for complete argument lists only.
    """
    fv = parse_flags(args, where)
    try:
        return options.config_from_flags(fv), fv
    except UserError as e:
        raise UserError(f"{where}: {e}") from e


def flag_name(arg, fv):
    """The flag an argument sets: '--l2=0.1' -> 'l2', '--noall_layers' -> 'all_layers'."""
    name = arg.lstrip("-").split("=", 1)[0]
    if name not in fv and name.startswith("no") and name[2:] in fv and fv[name[2:]].boolean:
        return name[2:]
    return name


def check_not_owned(name, where):
    if name in OWNED:
        raise UserError(f"{where} sets --{name}, which the sweep sets itself ({OWNED[name]})")


def extra_flags(train_flags, train_flag):
    """The train.py flags every run gets, from --train_flags (comma list) and --train_flag."""
    fv = fresh()
    args = []
    for source, items in (("--train_flags", train_flags), ("--train_flag", train_flag)):
        for item in items:
            if not item.startswith("--"):
                hint = (
                    " (--train_flags splits on commas: pass a value with commas as "
                    "--train_flag=--reg=l2,dropout)"
                    if source == "--train_flags"
                    else ""
                )
                raise UserError(f"{source}={item} is not a train.py flag like --epochs=5{hint}")
            check_not_owned(flag_name(item, fv), f"{source}={item}")
            args.append(item)
    parse_flags(args, "--train_flag")
    return args


class Axis(typing.NamedTuple):
    """One --grid: a train.py flag, its values, and the config it is bound to (None: every)."""

    flag: str
    values: list
    config: str | None = None


def parse_grid(specs, extra):
    """[Axis] from --grid=NAME=V1,V2,... (or V1;V2;... when a value has commas), each crossed
    with every config, or --grid=CONFIG:NAME=V1,... bound to that config alone."""
    fv = fresh()
    extra_names = {flag_name(a, fv) for a in extra}
    grid = []
    for spec in specs:
        name, sep, text = spec.partition("=")
        config, colon, name = name.rpartition(":")
        name = name.strip().lstrip("-")
        if not sep or not name or not text.strip() or (colon and not config.strip()):
            raise UserError(
                f"--grid={spec}: write --grid=NAME=V1,V2,... (or CONFIG:NAME=V1,V2,... for one "
                "config) with NAME a train.py flag"
            )
        if name not in fv:
            raise UserError(f"--grid={spec}: train.py has no flag --{name}")
        check_not_owned(name, f"--grid={spec}")
        if name in options.RESUME_INSENSITIVE:
            raise UserError(
                f"--grid={spec}: --{name} does not change what a run trains, so its values "
                f"would train the same variant; give it to every run with --train_flag"
            )
        if name in extra_names:
            raise UserError(f"--{name} is both a --grid flag and a --train_flag: give it once")
        config = config.strip() or None
        # Twice for one config: crossed twice, crossed and bound, or bound to it twice.
        if any(a.flag == name and (None in (a.config, config) or a.config == config) for a in grid):
            raise UserError(f"--grid names --{name} twice: give all its values in one --grid")
        values = [v.strip() for v in text.split(";" if ";" in text else ",")]
        if "" in values or len(set(values)) != len(values):
            raise UserError(f"--grid={spec}: the values must be distinct and non-empty")
        for value in values:
            parse_flags([f"--{name}={value}"], f"--grid={spec}: value {value!r}")
        grid.append(Axis(name, values, config))
    return grid


def grid_protocol(grid):
    """sweep.json's grids: {"grid": {flag: values} crossed with every config, "config_grids":
    {config: {flag: values}} bound to one}."""
    out = {"grid": {}, "config_grids": {}}
    for a in grid:
        if a.config is None:
            out["grid"][a.flag] = a.values
        else:
            out["config_grids"].setdefault(a.config, {})[a.flag] = a.values
    return out


def identity(cfg):
    """What a variant trains: the trained identity without the seed."""
    return {k: v for k, v in cfg.trained_identity().items() if k != "seed"}


def identity_hash(ident):
    """8 hex digits that change whenever any trained flag does."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]


def defaults():
    """train.py's default values and its flags in definition order (for labels and tables)."""
    cfg, fv = parse([], "train.py's defaults")
    return cfg.values, [name for name in fv if name in cfg.values]
