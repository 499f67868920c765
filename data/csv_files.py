"""CSV files with a header row: numeric feature columns and one label column."""

import csv
import math

import numpy as np
from sklearn.preprocessing import LabelEncoder

from data.dataset import Raw
from errors import UserError


def read_table(path, *, flag):
    """(header, rows): rows yields (line number, stripped cells) of a CSV file with a header
    row, skipping blank lines; a row with the wrong field count raises when it is reached.
    `flag` names where the path came from, for the message of a missing file."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError as e:
        raise UserError(f"CSV file {path} does not exist; check {flag}") from e
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read CSV file {path}: {e}") from e
    if len(rows) < 2:
        raise UserError(f"CSV file {path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    return header, _cells(path, header, rows[1:])


def _cells(path, header, rows):
    for line_no, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise UserError(f"{path} line {line_no}: {len(row)} fields, header has {len(header)}")
        yield line_no, [cell.strip() for cell in row]


def present(path, line_no, col, cell):
    """`cell`, unless it is empty or a missing-value marker."""
    if cell == "" or cell.lower() in ("na", "nan", "null", "?"):
        raise UserError(
            f"{path} line {line_no}, column {col!r}: missing value; fill or drop that row"
        )
    return cell


def number(path, line_no, col, cell):
    """The finite float in a feature cell."""
    present(path, line_no, col, cell)
    try:
        value = float(cell)
    except ValueError as e:
        raise UserError(
            f"{path} line {line_no}, column {col!r}: non-numeric feature "
            f"{cell!r}; encode it as numbers or drop the column"
        ) from e
    if not math.isfinite(value):
        raise UserError(f"{path} line {line_no}, column {col!r}: {cell!r} is not finite")
    return value


def load(path, *, label_column):
    header, rows = read_table(path, flag="--dataset=csv:<path>")
    if label_column not in header:
        raise UserError(
            f"CSV file {path} has no label column {label_column!r} "
            f"(columns: {', '.join(header)}); set --label_column"
        )
    features, labels = [], []
    for line_no, row in rows:
        values = []
        for col, cell in zip(header, row, strict=True):
            if col == label_column:
                labels.append(present(path, line_no, col, cell))
            else:
                values.append(number(path, line_no, col, cell))
        features.append(values)
    if not features:
        raise UserError(f"CSV file {path} has a header but no data rows")
    if not features[0]:
        raise UserError(f"CSV file {path} has no feature columns besides {label_column!r}")
    encoder = LabelEncoder()
    try:  # integer labels sort numerically; other labels as strings
        y = encoder.fit_transform([int(v) for v in labels])
    except ValueError:
        y = encoder.fit_transform(labels)
    class_names = [str(c) for c in encoder.classes_]
    if len(class_names) < 2:
        raise UserError(
            f"CSV file {path}: label column {label_column!r} holds only one class "
            f"({class_names[0]!r}); a classifier needs two or more"
        )
    feature_names = tuple(h for h in header if h != label_column)
    return Raw(f"csv:{path}", "tabular", np.array(features), y, tuple(class_names), feature_names)
