"""sweep.json: the protocol, every variant's label and flags, every run's seed and arguments."""

import os

from errors import UserError
from runs import rundir


def write(out_dir, variants, runs, protocol):
    """Writes sweep.json for plan.Variant's and plan.Run's; report.py reads nothing else."""
    rundir.write_json(
        os.path.join(out_dir, "sweep.json"),
        {
            "protocol": protocol,
            "variants": [
                {
                    "variant": v.name,
                    "label": v.label,
                    "flagfile": v.flagfile,
                    "grid": dict(v.grid),
                    "config_hash": v.config_hash,
                    "config": v.identity,
                }
                for v in variants
            ],
            "runs": [
                {
                    "variant": r.variant.name,
                    "label": r.variant.label,
                    "seed": r.seed,
                    "name": r.name,
                    "args": list(r.args),
                }
                for r in runs
            ],
        },
    )


def read(out_dir):
    """sweep.json as written by write() (older sweeps: runs only)."""
    path = os.path.join(out_dir, "sweep.json")
    try:
        manifest = rundir.read_json(path)
    except FileNotFoundError as e:
        raise UserError(f"{out_dir} holds no sweep (no sweep.json); run sweep.py first") from e
    except ValueError as e:
        raise UserError(f"{path} is not valid JSON ({e}); re-run sweep.py") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("runs"), list):
        raise UserError(f"{path} lists no runs; re-run sweep.py")
    manifest.setdefault("protocol", {})
    manifest.setdefault("variants", [])
    return manifest
