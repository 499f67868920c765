"""scikit-learn's bundled datasets (no download): iris, wine, breast_cancer, digits."""

from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

from data.dataset import image_dataset, split_tabular

_LOADERS = {
    "iris": skd.load_iris,
    "wine": skd.load_wine,
    "breast_cancer": skd.load_breast_cancer,
    "digits": skd.load_digits,
}
NAMES = tuple(_LOADERS)


def load(name, *, test_fraction, seed):
    bunch = _LOADERS[name]()
    class_names = [str(c) for c in bunch.target_names]
    if name == "digits":
        # 8x8 images with pixel values 0..16: kept as images so the CNN can use them.
        x_tr, x_te, y_tr, y_te = train_test_split(
            bunch.images,
            bunch.target,
            test_size=test_fraction,
            random_state=seed,
            stratify=bunch.target,
        )
        return image_dataset(name, x_tr, y_tr, x_te, y_te, class_names, scale=16.0)
    return split_tabular(
        name, bunch.data, bunch.target, class_names, test_fraction=test_fraction, seed=seed
    )
