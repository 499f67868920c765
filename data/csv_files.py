"""CSV files with a header row: numeric feature columns and one label column."""

import csv
import math

import numpy as np
from sklearn.preprocessing import LabelEncoder

from data.dataset import Raw
from errors import UserError


def load(path, *, label_column):
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError as e:
        raise UserError(f"CSV file {path} does not exist; check --dataset=csv:<path>") from e
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read CSV file {path}: {e}") from e
    if len(rows) < 2:
        raise UserError(f"CSV file {path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise UserError(
            f"CSV file {path} has no label column {label_column!r} "
            f"(columns: {', '.join(header)}); set --label_column"
        )
    features, labels = [], []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise UserError(f"{path} line {line_no}: {len(row)} fields, header has {len(header)}")
        values = []
        for col, cell in zip(header, row, strict=True):
            cell = cell.strip()
            if cell == "" or cell.lower() in ("na", "nan", "null", "?"):
                raise UserError(
                    f"{path} line {line_no}, column {col!r}: missing value; fill or drop that row"
                )
            if col == label_column:
                labels.append(cell)
                continue
            try:
                value = float(cell)
            except ValueError as e:
                raise UserError(
                    f"{path} line {line_no}, column {col!r}: non-numeric feature "
                    f"{cell!r}; encode it as numbers or drop the column"
                ) from e
            if not math.isfinite(value):
                raise UserError(f"{path} line {line_no}, column {col!r}: {cell!r} is not finite")
            values.append(value)
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
