"""The in-memory dataset every source produces, and the protocol that splits it.

A source returns a `Raw` (features, integer labels, class names, and its own test split when it
has one). `make` applies the protocol, always in this order so that no flag moves another
split: test split (seed) -> validation split out of the rest (seed) -> --train_size subsample
of the training rows -> --label_noise on training and validation labels -> preprocessing fit on
the training rows only (StandardScaler for tabular data, a fixed pixel scale for images).
"""

import dataclasses
import hashlib

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from errors import UserError


@dataclasses.dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32 features: [n, d] tabular or [n, h, w, c] images
    y: np.ndarray  # float32 one-hot labels [n, num_classes]

    def __len__(self):
        return len(self.x)


@dataclasses.dataclass(frozen=True)
class Raw:
    """What a source loads: unprocessed features and integer labels."""

    name: str
    kind: str  # "tabular" or "image"
    x: np.ndarray
    labels: np.ndarray
    class_names: tuple
    feature_names: tuple = ()
    pixel_scale: float = 0.0  # images: the pixel maximum (x / pixel_scale is in [0, 1])
    test: tuple = None  # (x, labels) of the source's own test split, if it has one


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    kind: str  # "tabular" or "image"
    train: Split
    val: Split  # the test split itself when validating on test (the tutorial's protocol)
    test: Split
    class_names: tuple
    feature_names: tuple = ()
    preprocessing: dict = dataclasses.field(default_factory=dict)  # raw -> model inputs
    indices: dict = dataclasses.field(default_factory=dict)  # split -> rows of the source
    flipped: dict = dataclasses.field(default_factory=dict)  # split -> rows with a noisy label

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_shape(self):
        return tuple(self.train.x.shape[1:])

    @property
    def validates_on_test(self):
        return self.val is self.test

    def fingerprint(self):
        """16 hex digits of every split's arrays: the same run data, or not."""
        h = hashlib.sha256()
        for split in (self.train, self.val, self.test):
            h.update(np.ascontiguousarray(split.x).tobytes())
            h.update(np.ascontiguousarray(split.y).tobytes())
        return h.hexdigest()[:16]


def one_hot(labels, num_classes):
    encoder = OneHotEncoder(categories=[np.arange(num_classes)], sparse_output=False)
    return encoder.fit_transform(np.asarray(labels).reshape(-1, 1)).astype(np.float32)


def preprocess(preprocessing, x):
    """Raw features -> model inputs, as the run's training rows defined it."""
    x = np.asarray(x, np.float32)
    if "pixel_scale" in preprocessing:
        x = x / np.float32(preprocessing["pixel_scale"])
        return x[..., None] if x.ndim == 3 else x
    mean = np.asarray(preprocessing["mean"], np.float64)
    scale = np.asarray(preprocessing["scale"], np.float64)
    return ((x - mean) / scale).astype(np.float32)


def _stratified(name, what, x, labels, rows, size, seed, flag):
    try:
        return train_test_split(x, labels, rows, test_size=size, random_state=seed, stratify=labels)
    except ValueError as e:
        raise UserError(
            f"{name}: cannot hold out a stratified {what} split ({e}); use more rows per class "
            f"or another {flag}"
        ) from e


def make(raw, *, test_fraction=0.2, val_fraction=0.0, train_size=0, label_noise=0.0, seed=0):
    """Applies the protocol to `raw`; val_fraction=0 validates on the test split."""
    k = len(raw.class_names)
    x = np.asarray(raw.x, np.float32) if raw.kind == "tabular" else np.asarray(raw.x)
    labels = np.asarray(raw.labels)
    if len(np.unique(labels)) < 2:
        raise UserError(
            f"{raw.name}: the labels hold only one class; a classifier needs two or more"
        )
    rows = np.arange(len(labels))
    if raw.test is None:
        x_tr, x_te, y_tr, y_te, r_tr, r_te = _stratified(
            raw.name, "test", x, labels, rows, test_fraction, seed, "--test_fraction"
        )
    else:
        x_tr, y_tr, r_tr = x, labels, rows
        x_te, y_te = raw.test
        r_te = np.arange(len(y_te))
    val = None
    if val_fraction:
        x_tr, x_va, y_tr, y_va, r_tr, r_va = _stratified(
            raw.name, "validation", x_tr, y_tr, r_tr, val_fraction, seed, "--val_fraction"
        )
        val = (x_va, y_va, r_va)
    if train_size:
        if train_size > len(y_tr):
            raise UserError(
                f"--train_size={train_size} is larger than the {len(y_tr)} training rows of "
                f"{raw.name}; pass at most {len(y_tr)} (0: all)"
            )
        if train_size < len(y_tr):
            x_tr, _, y_tr, _, r_tr, _ = _stratified(
                raw.name,
                "--train_size",
                x_tr,
                y_tr,
                r_tr,
                len(y_tr) - train_size,
                seed,
                "--train_size",
            )
    flipped = {}
    if label_noise:
        y_tr, flipped["train"] = _flip(y_tr, label_noise, k, seed, stream=1)
        if val is not None:
            y_va, flipped["val"] = _flip(val[1], label_noise, k, seed, stream=2)
            val = (val[0], y_va, val[2])
    if raw.kind == "image":
        prep = {"pixel_scale": float(raw.pixel_scale)}
    else:
        scaler = StandardScaler().fit(x_tr)
        prep = {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()}

    def split(xs, ys):
        if raw.kind == "tabular":  # the fitted scaler itself: bitwise what sklearn gives
            return Split(scaler.transform(xs).astype(np.float32), one_hot(ys, k))
        return Split(preprocess(prep, xs), one_hot(ys, k))

    test = split(x_te, y_te)
    indices = {"train": r_tr, "test": r_te}
    if val is not None:
        indices["val"] = val[2]
    return Dataset(
        name=raw.name,
        kind=raw.kind,
        train=split(x_tr, y_tr),
        val=split(val[0], val[1]) if val is not None else test,
        test=test,
        class_names=tuple(raw.class_names),
        feature_names=tuple(raw.feature_names),
        preprocessing=prep,
        indices=indices,
        flipped=flipped,
    )


def _flip(labels, fraction, num_classes, seed, stream):
    """A seeded `fraction` of the labels moved to another class (uniformly among the others)."""
    rng = np.random.default_rng([seed, stream])
    n = len(labels)
    rows = np.sort(rng.choice(n, size=int(round(fraction * n)), replace=False))
    noisy = np.array(labels, copy=True)
    noisy[rows] = (noisy[rows] + rng.integers(1, num_classes, size=len(rows))) % num_classes
    return noisy, rows
