"""tensorflow-datasets sources, read only from prepared data (never a download during training)."""

import numpy as np

from data.dataset import Raw
from errors import UserError


def _builder(name, data_dir):
    import tensorflow_datasets as tfds

    try:
        # Finds registered builders and, for unregistered names, prepared data in data_dir.
        return tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except Exception as e:  # tfds raises several types here; all mean "cannot find it"
        raise UserError(
            f"tfds dataset {name!r} is unknown or not prepared in "
            f"--data_dir={data_dir}: {type(e).__name__}"
        ) from e


def load(name, *, data_dir, train_split, test_split):
    builder = _builder(name, data_dir)
    if not builder.is_prepared():
        raise UserError(
            f"tfds dataset {name!r} is not prepared in {builder.data_dir}; prepare it where there "
            f"is network with `tfds build {name} --data_dir=DIR` and pass --data_dir=DIR"
        )
    splits = builder.info.splits
    if train_split.split("[")[0] not in splits:
        raise UserError(
            f"tfds dataset {name!r} has no split {train_split!r} "
            f"(has: {', '.join(splits)}); set --train_split"
        )
    if not test_split and "test" in splits:
        test_split = "test"
    if test_split and test_split.split("[")[0] not in splits:
        raise UserError(
            f"tfds dataset {name!r} has no split {test_split!r} "
            f"(has: {', '.join(splits)}); set --test_split"
        )
    x_tr, y_tr = _arrays(builder, train_split)
    features = builder.info.features  # a FeaturesDict: no .get()
    label = features["label"] if "label" in features else None  # noqa: SIM401
    num_classes = label.num_classes if label is not None else int(y_tr.max() + 1)
    class_names = label.names if label is not None else [str(i) for i in range(num_classes)]
    test = _arrays(builder, test_split) if test_split else None  # else: held out, seeded
    kind = "image" if x_tr.ndim >= 3 else "tabular"
    return Raw(f"tfds:{name}", kind, x_tr, y_tr, tuple(class_names), pixel_scale=255.0, test=test)


def _arrays(builder, split):
    import tensorflow_datasets as tfds

    try:
        ds = builder.as_dataset(split=split, as_supervised=True, batch_size=-1)
    except Exception as e:
        raise UserError(f"cannot read split {split!r} of tfds dataset {builder.name!r}: {e}") from e
    x, y = tfds.as_numpy(ds)
    return np.asarray(x), np.asarray(y).astype(np.int64)
