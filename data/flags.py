"""train.py's data flags: what to train on and how it is split (flagdef.Flag records)."""

import functools

from flagdef import Flag, finite, shown

MAX_ROWS = 2**31 - 1  # --train_size: rows are indexed with int32 on the device

_flag = functools.partial(Flag, group="data")


def _tfds(values):
    return values["dataset"].startswith("tfds:")


def _dataset_exists(values):
    """--dataset names something that exists (else the error would come only after
    TensorFlow has started)."""
    from data import sklearn_sets

    dataset = values["dataset"]
    kind, colon, rest = dataset.partition(":")
    if colon and kind in ("tfds", "csv"):
        if not rest.strip():
            example = "tfds:mnist" if kind == "tfds" else "csv:data/train.csv"
            what = "a dataset name" if kind == "tfds" else "a file path"
            return f"--dataset={kind}: needs {what} after the colon, e.g. --dataset={example}"
    elif dataset not in sklearn_sets.NAMES:
        return (
            f"unknown --dataset={shown(dataset)}: use one of {', '.join(sklearn_sets.NAMES)}, "
            "tfds:<name> or csv:<path>"
        )
    return None


RECORDS = (
    _flag(
        "dataset",
        "iris",
        "iris|wine|breast_cancer|digits (scikit-learn, offline), tfds:<name>, or csv:<path>.",
        check_with=_dataset_exists,
        hparam=True,
    ),
    _flag(
        "test_fraction",
        0.2,
        "Test fraction held out (stratified) of sklearn and CSV data.",
        kind="float",
        check=lambda v: finite(v) and 0 < v < 1,
        message="--test_fraction must be in (0, 1)",
    ),
    _flag(
        "val_fraction",
        0.2,
        "Validation fraction held out (stratified, seeded) of the training data; validation "
        "drives the val curves, the best epoch, early stopping and NaN rollback.",
        kind="float",
        check=lambda v: finite(v) and 0 < v < 1,
        message="--val_fraction must be in (0, 1) (--validate_on=test validates on the test split)",
        applies=lambda values: values["validate_on"] == "val",
        idle_why="--validate_on=test uses no val split",
        hparam=True,
    ),
    _flag(
        "validate_on",
        "val",
        "val: a held-out validation split (--val_fraction). test: validate on the test split, "
        "as the tutorial did (its configs/ say so); no selection is then honest.",
        kind="enum",
        choices=("val", "test"),
        hparam=True,
    ),
    _flag(
        "train_size",
        0,
        "Train on a stratified, seeded subsample of N training rows (0: all). The validation "
        "and test splits do not change.",
        kind="integer",
        check=lambda v: 0 <= v <= MAX_ROWS,
        message=f"--train_size must be >= 0 and at most {MAX_ROWS} (0: all training rows)",
        hparam=True,
    ),
    _flag(
        "label_noise",
        0.0,
        "Flip this seeded fraction of training and validation labels to another class (test "
        "labels stay clean).",
        kind="float",
        check=lambda v: finite(v) and 0 <= v < 1,
        message="--label_noise must be in [0, 1)",
        hparam=True,
    ),
    _flag(
        "label_column",
        "label",
        "Label column of a csv:<path> dataset.",
        check=lambda v: bool(v.strip()),
        message="--label_column must name a column of the CSV file's header",
        applies=lambda values: values["dataset"].startswith("csv:"),
        idle_why="it applies to --dataset=csv:<path>",
    ),
    _flag(
        "data_dir",
        None,
        "tensorflow-datasets data_dir for tfds:<name>.",
        check=lambda v: v is None or bool(v.strip()),
        message="--data_dir must not be empty (leave it out for tensorflow-datasets' default)",
        trains=False,
        applies=_tfds,
        idle_why="it applies to --dataset=tfds:<name>",
    ),
    _flag(
        "train_split",
        "train",
        "tfds split used for training.",
        check=lambda v: bool(v.strip()),
        message="--train_split must name a tfds split",
        applies=_tfds,
        idle_why="it applies to --dataset=tfds:<name>",
    ),
    _flag(
        "test_split",
        "",
        "tfds split used for test; empty: 'test' if the dataset has one, else the last "
        "--test_fraction of --train_split.",
        applies=_tfds,
        idle_why="it applies to --dataset=tfds:<name>",
    ),
)
