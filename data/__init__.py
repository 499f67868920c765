"""Datasets by name: scikit-learn's bundled sets, tfds:<name>, and csv:<path>."""

from data import csv_files, sklearn_sets, tfds_sets
from data.dataset import Dataset, Split
from errors import UserError

__all__ = ["Dataset", "Split", "load"]


def load(
    name,
    *,
    test_fraction=0.2,
    seed=0,
    data_dir=None,
    train_split="train",
    test_split="",
    label_column="label",
):
    """Loads dataset `name` as in-memory train/test splits, preprocessed for training."""
    if name in sklearn_sets.NAMES:
        return sklearn_sets.load(name, test_fraction=test_fraction, seed=seed)
    if name.startswith("tfds:"):
        return tfds_sets.load(
            name[5:],
            data_dir=data_dir,
            train_split=train_split,
            test_split=test_split,
            test_fraction=test_fraction,
            seed=seed,
        )
    if name.startswith("csv:"):
        return csv_files.load(
            name[4:], label_column=label_column, test_fraction=test_fraction, seed=seed
        )
    raise UserError(
        f"unknown --dataset={name!r}: use one of {', '.join(sklearn_sets.NAMES)}, "
        "tfds:<name> or csv:<path>"
    )
