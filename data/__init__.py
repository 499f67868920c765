"""Datasets by name: scikit-learn's bundled sets, tfds:<name>, and csv:<path>."""

from data import csv_files, sklearn_sets, tfds_sets
from data.dataset import Dataset, Raw, Split, make, preprocess
from errors import UserError

__all__ = ["Dataset", "Raw", "Split", "for_config", "load", "load_raw", "preprocess"]


def load_raw(name, *, data_dir=None, train_split="train", test_split="", label_column="label"):
    """The source's rows, before any split."""
    if name in sklearn_sets.NAMES:
        return sklearn_sets.load(name)
    if name.startswith("tfds:"):
        return tfds_sets.load(
            name[5:], data_dir=data_dir, train_split=train_split, test_split=test_split
        )
    if name.startswith("csv:"):
        return csv_files.load(name[4:], label_column=label_column)
    raise UserError(
        f"unknown --dataset={name!r}: use one of {', '.join(sklearn_sets.NAMES)}, "
        "tfds:<name> or csv:<path>"
    )


def load(
    name,
    *,
    test_fraction=0.2,
    val_fraction=0.0,
    train_size=0,
    label_noise=0.0,
    seed=0,
    **source,
):
    """Loads dataset `name` split by the protocol (data/dataset.py); val_fraction=0 validates
    on the test split."""
    return make(
        load_raw(name, **source),
        test_fraction=test_fraction,
        val_fraction=val_fraction,
        train_size=train_size,
        label_noise=label_noise,
        seed=seed,
    )


def for_config(cfg):
    """The dataset of a run, split as its flags say."""
    return load(
        cfg.dataset,
        test_fraction=cfg.test_fraction,
        val_fraction=cfg.val_fraction if cfg.validate_on == "val" else 0.0,
        train_size=cfg.train_size,
        label_noise=cfg.label_noise,
        seed=cfg.seed,
        data_dir=cfg.data_dir,
        train_split=cfg.train_split,
        test_split=cfg.test_split,
        label_column=cfg.label_column,
    )
