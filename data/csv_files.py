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


FLOAT32_MAX = float(np.finfo(np.float32).max)  # the models compute in float32
SHOWN_CELLS = 5  # bad cells an error lists; it counts the rest
# What to do about one bad cell, by what its reason says.
FIX = {
    "missing value": "fill or drop that row",
    "non-numeric": "encode it as numbers or drop the column",
    "is not finite": "replace it or drop that row",
    "float32's range": "rescale that column or drop that row",
}


def missing(cell):
    """Why an empty cell or a missing-value marker is bad, else None."""
    if cell == "" or cell.lower() in ("na", "nan", "null", "?"):
        return "missing value"
    return None


def number(cell):
    """(the float in a feature cell, None) or (None, why it is bad)."""
    why = missing(cell)
    if why:
        return None, why
    try:
        value = float(cell)
    except ValueError:
        return None, f"non-numeric feature {cell!r}"
    if not math.isfinite(value):
        return None, f"{cell!r} is not finite"
    if abs(value) > FLOAT32_MAX:
        return None, f"{cell!r} is beyond float32's range (|x| <= {FLOAT32_MAX:.4g})"
    return value, None


class BadCells:
    """Collects a file's bad cells, so one error lists them all (the first few, and how many)."""

    def __init__(self, path):
        self.path = path
        self.found = []  # (line number, column, why)

    def add(self, line_no, col, why):
        self.found.append((line_no, col, why))

    def check(self):
        """Raises one UserError naming the bad cells, if any."""
        if not self.found:
            return
        shown = "; ".join(
            f"line {n}, column {c!r}: {why}" for n, c, why in self.found[:SHOWN_CELLS]
        )
        if len(self.found) == 1:
            fix = next(fix for reason, fix in FIX.items() if reason in self.found[0][2])
            raise UserError(f"{self.path} {shown}; {fix}")
        more = len(self.found) - SHOWN_CELLS
        rest = f"; and {more} more" if more > 0 else ""
        raise UserError(
            f"{self.path}: {len(self.found)} bad cells: {shown}{rest}; fill or fix them "
            "(numbers within float32's range), or drop their rows or columns"
        )


def values(path, rows, where, label_at=None):
    """(features, labels) of `rows`: the floats at `where` ([(index, column name)]) and the
    label cells at `label_at` (None: no labels). Every bad cell is found before one error
    reports them, in file order."""
    bad = BadCells(path)
    features, labels = [], []
    for line_no, row in rows:
        x = []
        for i, col in where:
            value, why = number(row[i])
            if why:
                bad.add(line_no, col, why)
            x.append(value)
        features.append(x)
        if label_at is not None:
            why = missing(row[label_at[0]])
            if why:
                bad.add(line_no, label_at[1], why)
            labels.append(row[label_at[0]])
    bad.found.sort(key=lambda f: f[0])  # stable: columns keep their order within a line
    bad.check()
    return features, labels


def load(path, *, label_column):
    header, rows = read_table(path, flag="--dataset=csv:<path>")
    if label_column not in header:
        raise UserError(
            f"CSV file {path} has no label column {label_column!r} "
            f"(columns: {', '.join(header)}); set --label_column"
        )
    at = header.index(label_column)
    where = [(i, col) for i, col in enumerate(header) if i != at]
    features, labels = values(path, rows, where, label_at=(at, label_column))
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
