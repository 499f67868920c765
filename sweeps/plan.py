"""A sweep's runs: every variant (a flagfile) x seed, checked before anything starts."""

import dataclasses
import glob
import json
import os
import re

from absl import flags

import options
from errors import UserError
from runs import rundir


@dataclasses.dataclass(frozen=True)
class Run:
    variant: str
    seed: int
    name: str
    args: tuple  # train.py flags

    def status(self, runs_dir):
        """finished/diverged (final), preempted, or missing (never ran or was killed)."""
        path = os.path.join(runs_dir, self.name, "metrics.json")
        try:
            return rundir.read_json(path).get("status", "missing")
        except (OSError, ValueError):
            return "missing"


def check_flagfile(path):
    """Parses a flagfile with train.py's own flags and validators; raises UserError if bad."""
    if not os.path.isfile(path):
        raise UserError(f"config file {path} does not exist")
    fv = flags.FlagValues()
    options.define_flags(fv)
    try:
        fv(["train.py", f"--flagfile={path}"])
    except flags.Error as e:
        raise UserError(f"config file {path}: {e}") from e


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
    return list(dict.fromkeys(paths))


def plan(config_patterns, seeds, runs_dir, extra_args=()):
    """All runs of the sweep, in variant-major order."""
    if seeds <= 0:
        raise UserError("--seeds must be >= 1")
    paths = expand_configs(config_patterns)
    for path in paths:
        check_flagfile(path)
    runs = []
    for path in paths:
        variant = os.path.splitext(os.path.basename(path))[0]
        for seed in range(seeds):
            name = f"{variant}_s{seed}"
            args = (
                f"--flagfile={path}",
                f"--seed={seed}",
                f"--logdir={runs_dir}",
                f"--run_name={name}",
                "--progress=lines",
                *extra_args,
            )
            runs.append(Run(variant, seed, name, args))
    return runs


def write_manifest(out_dir, runs):
    """sweep.json: which run belongs to which variant and seed (the report reads it)."""
    rundir.write_json(
        os.path.join(out_dir, "sweep.json"),
        {
            "runs": [
                {"variant": r.variant, "seed": r.seed, "name": r.name, "args": list(r.args)}
                for r in runs
            ]
        },
    )


def read_manifest(out_dir):
    path = os.path.join(out_dir, "sweep.json")
    try:
        with open(path) as f:
            return json.load(f)["runs"]
    except FileNotFoundError as e:
        raise UserError(f"{out_dir} holds no sweep (no sweep.json); run sweep.py first") from e
