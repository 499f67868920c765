"""The in-memory dataset every source produces, and the split/scaling shared by tabular sources."""

import dataclasses

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
class Dataset:
    name: str
    kind: str  # "tabular" or "image"
    train: Split
    test: Split
    class_names: tuple

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_shape(self):
        return tuple(self.train.x.shape[1:])


def one_hot(labels, num_classes):
    encoder = OneHotEncoder(categories=[np.arange(num_classes)], sparse_output=False)
    return encoder.fit_transform(np.asarray(labels).reshape(-1, 1)).astype(np.float32)


def split_tabular(name, x, labels, class_names, *, test_fraction, seed):
    """Stratified, seeded split; StandardScaler fit on the training split only."""
    x = np.asarray(x, np.float32)
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=len(class_names))
    if (counts > 0).sum() < 2:
        raise UserError(f"{name}: the labels hold only one class; a classifier needs two or more")
    try:
        x_tr, x_te, y_tr, y_te = train_test_split(
            x, labels, test_size=test_fraction, random_state=seed, stratify=labels
        )
    except ValueError as e:
        raise UserError(
            f"{name}: cannot make a stratified split ({e}); "
            "use more rows per class or another --test_fraction"
        ) from e
    return tabular_dataset(name, x_tr, y_tr, x_te, y_te, class_names)


def tabular_dataset(name, x_tr, y_tr, x_te, y_te, class_names):
    """Standardizes features with a StandardScaler fit on the training split only."""
    scaler = StandardScaler().fit(x_tr)
    k = len(class_names)
    return Dataset(
        name=name,
        kind="tabular",
        train=Split(scaler.transform(x_tr).astype(np.float32), one_hot(y_tr, k)),
        test=Split(scaler.transform(x_te).astype(np.float32), one_hot(y_te, k)),
        class_names=tuple(class_names),
    )


def image_dataset(name, x_train, y_train, x_test, y_test, class_names, scale):
    """Images kept as [n, h, w, c] and scaled to [0, 1] by `scale` (the pixel maximum)."""

    def prep(x):
        x = np.asarray(x, np.float32) / scale
        return x[..., None] if x.ndim == 3 else x

    k = len(class_names)
    return Dataset(
        name=name,
        kind="image",
        train=Split(prep(x_train), one_hot(y_train, k)),
        test=Split(prep(x_test), one_hot(y_test, k)),
        class_names=tuple(class_names),
    )
