"""A sweep's data, checked once before any run starts: a bad data file is one error (exit 2),
not a failure of every run."""

import os

import data
from errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = ("dataset", "label_column")  # what load_raw reads (with data_dir and splits for tfds)
SPLIT = ("test_fraction", "val_fraction", "validate_on", "train_size", "label_noise", "seed")


def _path(dataset):
    """A csv:<path> as the runs read it: they run in the repository root (sweeps/executors.py,
    slurm/common.sh)."""
    if dataset.startswith("csv:") and not os.path.isabs(dataset[4:]):
        return "csv:" + os.path.join(ROOT, dataset[4:])
    return dataset


def check(runs):
    """Loads every CSV and scikit-learn source of `runs` once and splits it as each run will;
    raises UserError for the first variant whose data a run would refuse. Returns {run name:
    its data.Dataset}. tfds sources are left to the runs (loading one here would cost what a
    run costs)."""
    raws = {}
    splits = {}
    found = {}
    for run in runs:
        ident = run.identity
        if ident["dataset"].startswith("tfds:"):
            continue
        source = tuple(ident[k] for k in SOURCE)
        split = source + tuple(ident[k] for k in SPLIT)
        if split in splits:
            found[run.name] = splits[split]
            continue
        try:
            if source not in raws:
                raws[source] = data.load_raw(
                    _path(ident["dataset"]), label_column=ident["label_column"]
                )
            val = ident["val_fraction"] if ident["validate_on"] == "val" else 0.0
            found[run.name] = splits[split] = data.make(
                raws[source],
                test_fraction=ident["test_fraction"],
                val_fraction=val,
                train_size=ident["train_size"],
                label_noise=ident["label_noise"],
                seed=ident["seed"],
            )
        except UserError as e:
            raise UserError(f"variant {run.variant.name}: {e} (no run was started)") from e
    return found
