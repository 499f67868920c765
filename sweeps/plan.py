"""A sweep's runs: every config x grid point x seed, each parsed as train.py would parse it."""

import dataclasses
import glob
import itertools
import os
import re

import options
from errors import UserError
from runs import rundir
from sweeps import MAX_SEEDS, labels
from sweeps import train_args as targs


@dataclasses.dataclass(frozen=True, eq=False)
class Variant:
    name: str
    label: str
    flagfile: str
    grid: tuple  # ((flag, value as given), ...)
    identity: dict  # trained flags without the seed
    config_hash: str
    given: frozenset = frozenset()  # flags its config, --train_flag or --grid set
    idle: frozenset = frozenset()  # flags that do nothing in it (options.idle_flags)


@dataclasses.dataclass(frozen=True, eq=False)
class Run:
    variant: Variant
    seed: int
    name: str
    args: tuple  # train.py flags
    identity: dict  # trained flags, seed included: what config.json must hold to be reused


def _natural(path):
    """model2 before model11."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def expand_configs(patterns):
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern), key=_natural)
        if not matches:
            raise UserError(f"config file {pattern} does not exist (no file matches)")
        paths += matches
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"config file {path} is not a file")
    return list(dict.fromkeys(paths))


def check_flagfile(path):
    """Parses a flagfile alone with train.py's flags; it may not set the sweep's own flags."""
    fv = targs.parse_flags([f"--flagfile={path}"], f"config file {path}")
    for name in targs.OWNED:
        if name in fv and fv[name].present:
            targs.check_not_owned(name, f"config file {path}")
    return {name for name in fv if fv[name].present}


def _slug(text):
    """A grid value as part of a directory name: '1e-4' stays, 'a/b,c' becomes 'a-b-c'."""
    return re.sub(r"[^A-Za-z0-9.+-]", "-", text)


def axes_by_config(grid, paths):
    """{path: the grid axes of that config}: crossed axes for every config, a bound axis for the
    one config its CONFIG names (as given in --configs, its file name, or its stem)."""
    out = {path: [a for a in grid if a.config is None] for path in paths}
    for a in (a for a in grid if a.config is not None):
        spelled = os.path.normpath(a.config)
        matches = [
            path
            for path in paths
            if spelled
            in (
                os.path.normpath(path),
                os.path.basename(path),
                os.path.splitext(os.path.basename(path))[0],
            )
        ]
        if len(matches) != 1:
            how = "is not one of --configs" if not matches else "names several of --configs"
            raise UserError(
                f"--grid={a.config}:{a.flag}=...: {a.config} {how} ({', '.join(paths)}); "
                "name one config by its path or file name"
            )
        out[matches[0]].append(a)
    return out


def plan(config_patterns, seeds, runs_dir, extra_args=(), grid=()):
    """(variants, runs): every config x grid point, then x seed, in that order. Writes nothing.

    Every run's full argument list is parsed with train.py's flags and validators first.
    """
    if not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"--seeds must be between 1 and {MAX_SEEDS}")
    paths = expand_configs(config_patterns)
    probe = targs.fresh()
    extra_names = {targs.flag_name(a, probe) for a in extra_args}
    grid_names = {a.flag for a in grid}
    planned = _planned_variants(paths, extra_args, axes_by_config(grid, paths), extra_names)
    texts = _Labels(planned, extra_names | grid_names, grid_names).texts()
    variants = [
        Variant(
            name=p["name"],
            label=text,
            flagfile=p["path"],
            grid=p["point"],
            identity=p["ident"],
            config_hash=targs.identity_hash(p["ident"]),
            given=frozenset(p["given"]),
            idle=p["idle"],
        )
        for p, text in zip(planned, texts, strict=True)
    ]
    same = {}
    for v in variants:  # e.g. --grid=l2=0.01,1e-2, or two configs with the same flags
        if v.config_hash in same:
            raise UserError(
                f"variants {same[v.config_hash].name} and {v.name} train the same flags "
                f"(identity {v.config_hash}): drop one of them"
            )
        same[v.config_hash] = v
    return variants, _runs(variants, planned, seeds, os.path.abspath(runs_dir))


def _planned_variants(paths, extra_args, axes, extra_names):
    """Each config x its grid points (`axes`: axes_by_config): its name, arguments, identity,
    given and idle flags, and its '# label:' line unless the sweep overrides what it describes."""
    file_flags = {path: check_flagfile(path) for path in paths}
    planned = []
    for path in paths:
        stem = _slug(os.path.splitext(os.path.basename(path))[0])
        label_line = labels.from_flagfile(path)
        overrides = extra_names | {a.flag for a in axes[path]}  # what this config's runs override
        for point in itertools.product(*[[(a.flag, v) for v in a.values] for a in axes[path]]):
            name = "_".join([stem] + [f"{flag}-{_slug(v)}" for flag, v in point])
            if name in (p["name"] for p in planned):
                raise UserError(f"two variants are named {name}: rename one of their configs")
            args = [
                f"--flagfile={os.path.abspath(path)}",
                *extra_args,
                *[f"--{flag}={v}" for flag, v in point],
            ]
            cfg, fv = targs.parse(args, f"variant {name} ({path}, its grid values, --train_flag)")
            # The label line may describe a value the sweep overrides ("L1 0.01", or "first
            # layer" under --train_flag=--all_layers): a generated label says it instead.
            placement = overrides & set(options.GROUPS["regularizers"])
            file_label = None if file_flags[path] & overrides or placement else label_line
            planned.append(
                dict(
                    name=name,
                    path=path,
                    point=point,
                    args=args,
                    ident=targs.identity(cfg),
                    given={f for f in fv if fv[f].present},
                    idle=options.idle_flags(cfg.values),
                    file_label=file_label,
                )
            )
    return planned


class _Labels:
    """The variants' labels. Settings every variant has (e.g. the tutorial configs'
    --validate_on=test) are protocol: labels give the flags that vary, and a grid flag only with
    more than one value."""

    def __init__(self, planned, overrides, grid_names):
        defaults, order = targs.defaults()
        self.planned, self.grid_names = planned, grid_names
        self.varying = [n for n in order if len({repr(p["ident"].get(n)) for p in planned}) > 1]
        same_everywhere = set(order) - set(self.varying)
        # Its own settings (given, or not train.py's default) of the flags that vary; with
        # none, its values of those flags.
        self.owns = [
            labels.settings(p["ident"], defaults, order, p["given"], overrides | same_everywhere)
            or self.values_of(p, self.varying)
            for p in planned
        ]
        # A config's '# label:' says what it is, not which settings tell it from a generated
        # label beside it ("model1: none" next to "validate_on=val"): it gets its own varying
        # settings and its values of the flags the generated labels name, so a difference
        # reads on both sides.
        self.named = set().union(
            *[self.shown(p, own) for p, own in self._pairs() if not p["file_label"]]
        )

    def _pairs(self):
        return zip(self.planned, self.owns, strict=True)

    def values_of(self, p, names):
        """Its settings of these varying flags, where they do something."""
        return [
            labels.setting(n, p["ident"][n])
            for n in self.varying
            if n in names and n in p["ident"] and n not in p["idle"] and n not in self.grid_names
        ]

    def shown(self, p, settings):
        """The varying flags these settings of p give."""
        return {
            n
            for n in self.varying
            if n in p["ident"] and labels.setting(n, p["ident"][n]) in settings
        }

    def label_of(self, p, own, spelled_out):
        grid_items = [labels.setting(f, p["ident"][f]) for f, _ in p["point"] if f in self.varying]
        if p["file_label"] and spelled_out:
            grid_items = self.values_of(p, self.shown(p, own) | self.named) + grid_items
        return labels.label(p["file_label"], own, grid_items, p["name"])

    def texts(self):
        mixed = any(not p["file_label"] for p in self.planned)
        texts = [self.label_of(p, own, mixed) for p, own in self._pairs()]
        same_text = {t for t in texts if texts.count(t) > 1}  # '# label:' lines that say the same
        texts = [
            self.label_of(p, own, True) if t in same_text else t
            for (p, own), t in zip(self._pairs(), texts, strict=True)
        ]
        # Still the same (a '# label:' line that spells another's settings): the config's name.
        return [
            f"{t} ({p['name']})" if texts.count(t) > 1 else t
            for p, t in zip(self.planned, texts, strict=True)
        ]


def _runs(variants, planned, seeds, runs_dir):
    """Every variant x seed, each run's whole command line parsed as train.py would."""
    runs = []
    for variant, p in zip(variants, planned, strict=True):
        for seed in range(seeds):
            run_name = f"{variant.name}_{variant.config_hash}_s{seed}"
            args = (
                *p["args"],
                f"--seed={seed}",
                f"--logdir={runs_dir}",
                f"--run_name={run_name}",
                "--progress=lines",
                "--nohparams_experiment",
            )
            run_cfg, _ = targs.parse(args, f"run {run_name}")
            runs.append(Run(variant, seed, run_name, args, run_cfg.trained_identity()))
    return runs


def settings_summary(variants):
    """The protocol of results.md, in train.py's flag order: {"shared": trained settings equal
    in every variant and given or not train.py's default ('epochs=20'), "some_variants": those
    given (or away from the default) that only some variants use ('mixup_alpha=0.2 (1 of 15
    variants)': idle in the others), "shared_defaults": the other equal ones, "varying": the
    names of those that differ where they are used}. Flags that do nothing in any variant (--l1
    without L1, --val_fraction when every variant validates on test) are left out."""
    defaults, order = targs.defaults()
    idents = [v.identity for v in variants]
    given = set().union(*[v.given for v in variants])
    idle = frozenset.intersection(*[v.idle for v in variants]) if variants else frozenset()
    names = [n for n in order if any(n in i for i in idents) and n not in idle]
    names += sorted({n for i in idents for n in i} - set(names) - idle)
    out = {"shared": [], "some_variants": [], "shared_defaults": [], "varying": []}
    for name in names:
        using = [v.identity.get(name) for v in variants if name not in v.idle]
        if any(v != using[0] for v in using):
            out["varying"].append(name)
        elif name not in given and using[0] == defaults.get(name):
            out["shared_defaults"].append(labels.setting(name, using[0]))
        elif len(using) < len(variants):
            out["some_variants"].append(
                f"{labels.setting(name, using[0])} ({len(using)} of {len(variants)} variants)"
            )
        else:
            out["shared"].append(labels.setting(name, using[0]))
    return out


def existing_status(runs_dir, run):
    """Status of the run's directory (missing if none); refuses one that holds another run."""
    path = os.path.join(runs_dir, run.name)
    try:
        old = rundir.read_json(os.path.join(path, "config.json"))
    except (OSError, ValueError):
        old = None
    if old is not None:
        for key, value in sorted(run.identity.items()):
            if old.get(key) != value:
                raise UserError(
                    f"run directory {path} holds a run with other trained flags (--{key}: "
                    f"{old.get(key)!r} there, {value!r} planned); move it away or use another --out"
                )
    try:
        return rundir.read_json(os.path.join(path, "metrics.json")).get("status", "missing")
    except (OSError, ValueError):
        return "missing"
