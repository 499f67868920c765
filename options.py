"""train.py's flags, assembled from the records the packages declare (flagdef.Flag), and
everything derived from them: definitions and checks, --help, the does-nothing-here rule, the
run's configuration and its name."""

import dataclasses
import hashlib
import json

from absl import flags

import cluster.flags
import data.flags
import framework_internals
import inspection.flags
import models.flags
import regularizers.flags
import runs.flags
import training.flags
from errors import UserError

# Where each part of train.py's flags is declared, in --help's order.
_MODULES = (
    data.flags,
    models.flags,
    regularizers.flags,
    training.flags,
    runs.flags,
    inspection.flags,
    cluster.flags,
)


def records():
    """Every train.py flag's record, in definition order (regularizers' Params after --reg's)."""
    out = []
    for module in _MODULES:
        out += module.RECORDS
        if module is regularizers.flags:
            out += regularizers.flags.param_records()
    return tuple(out)


def _declared():
    """The records the packages declare (without the regularizers' Params)."""
    return [r for module in _MODULES for r in module.RECORDS]


def __getattr__(name):
    """Lists derived from the records, current when a record is added at run time (a test):
    GROUPS: --help's groups of the packages' flags (the regularizers' Params join
    "regularizers"); RESUME_INSENSITIVE: the flags that do not change what a run trains, which
    may change on resume; PER_RUN: the flags the compiled loop does not read
    (training/reuse.py); SWEEP_SETS: {flag: why} of those a sweep sets on every run."""
    if name == "GROUPS":
        groups = {}
        for r in _declared():
            groups.setdefault(r.group, []).append(r.name)
        return groups
    if name == "RESUME_INSENSITIVE":
        return _untrained()
    if name == "PER_RUN":
        return tuple(r.name for r in _declared() if r.per_run)
    if name == "SWEEP_SETS":
        return {r.name: r.sweep_sets for r in _declared() if r.sweep_sets}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _untrained():
    return (*[r.name for r in records() if not r.trains], "flagfile")


def hparam_names():
    """The flags TensorBoard's HParams table lists."""
    return tuple(r.name for r in records() if r.hparam)


_DEFINE = {
    "string": flags.DEFINE_string,
    "integer": flags.DEFINE_integer,
    "float": flags.DEFINE_float,
    "bool": flags.DEFINE_bool,
    "list": flags.DEFINE_list,
    "multi_string": flags.DEFINE_multi_string,
}


def define_flags(fv=flags.FLAGS):
    """Defines every train.py flag on `fv` (a fresh FlagValues lets sweep.py check flagfiles)."""
    for r in records():
        _define(r, fv)
    _explain_parse_errors(fv)


def _define(r, fv):
    """One record as an absl flag with its validators (defined here, so that it is one of
    this module's key flags, which train.py adopts)."""
    if r.kind == "enum":
        flags.DEFINE_enum(r.name, r.default, list(r.choices), r.text("help"), flag_values=fv)
    else:
        _DEFINE[r.kind](r.name, r.default, r.text("help"), flag_values=fv)
    if r.check is not None:
        flags.register_validator(r.name, r.check, message=r.text("message"), flag_values=fv)
    if r.excludes:
        pair = [r.name, r.excludes]
        flags.register_multi_flags_validator(
            pair,
            lambda f: not (f[pair[0]] and f[pair[1]]),
            message=f"--{pair[0]} and --{pair[1]} exclude each other: pick one",
            flag_values=fv,
        )


def _explain_parse_errors(fv):
    """absl's own parse errors ("invalid literal for int() with base 10: 'x'") also say what
    the flag takes, e.g. "...; --epochs takes an integer, e.g. --epochs=350"."""
    for r in records():
        if r.kind not in ("integer", "float", "bool"):
            continue  # enums list their values; lists are checked by their validators
        name, default = r.name, fv[r.name].default
        if r.kind == "bool":
            hint = f"--{name} takes true or false: --{name}, --no{name}, --{name}=false"
        else:
            what = "an integer" if r.kind == "integer" else "a number"
            example = 1 if default is None else default
            hint = f"--{name} takes {what}, e.g. --{name}={example}"

        def parse(own, argument, hint=hint, kind=r.kind):
            try:
                return type(own).parse(own, argument)
            except (TypeError, ValueError) as e:
                if kind == "bool":  # absl's text is a tuple: ('Non-boolean ...', x)
                    raise ValueError(hint) from e
                raise ValueError(f"{e}; {hint}") from e

        framework_internals.wrap_flag_parser(fv[r.name], parse)


def idle_flags(values):
    """The flags that do nothing in the variant of these flag values (a regularizer's strength
    without that regularizer, --val_fraction with --validate_on=test, ...)."""
    return frozenset(name for name, matters, _ in _unused_flags(values) if not matters)


def _unused_flags(values):
    """(flag, does it matter here?, why not) of the flags that only matter in some variants."""
    return [(r.name, r.applies(values), r.idle_why) for r in records() if r.applies is not None]


def check_consistency(fv):
    """One clear error for values that only fail together (or, without this, only once
    TensorFlow and the data are loaded); and for a flag given on the command line that does
    nothing in this variant, so a typo never trains the wrong variant silently."""
    values = {name: fv[name].value for name in fv}
    for r in records():
        error = r.check_with(values) if r.check_with is not None else None
        if error:
            raise UserError(error)
    for name, matters, why in _unused_flags(values):
        if fv[name].present and not matters:
            raise UserError(f"--{name} does nothing here: {why}; drop it or change that")


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
        return {k: v for k, v in self.values.items() if k not in _untrained()}

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


def _normalized(values, recs):
    """Flag values as config.json stores them: numbers for numeric lists, --reg in order."""
    out = dict(values)
    for r in recs:
        if r.normalize is not None:
            out[r.name] = r.normalize(values[r.name], values)
    return out


def config_from_flags(fv=flags.FLAGS):
    """The RunConfig of parsed flags; raises UserError for flags that do nothing here."""
    check_consistency(fv)
    recs = sorted((r for r in records() if r.name in fv), key=lambda r: r.name)

    def plain(value):
        return list(value) if isinstance(value, list | tuple) else value

    values = _normalized({r.name: plain(fv[r.name].value) for r in recs}, recs)
    defaults = _normalized({r.name: plain(fv[r.name].default) for r in recs}, recs)
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
    grouped = {}
    for r in records():
        grouped.setdefault(r.group, []).append(r.name)
    for group, names in grouped.items():
        lines.append(f"{group}:")
        for name in names:
            flag = fv[name]
            default = flag.default_as_str or "''"
            lines.append(f"  --{name} (default: {default})")
            lines.append(f"      {flag.help}")
        lines.append("")
    return "\n".join(lines)
