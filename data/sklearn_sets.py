"""scikit-learn's bundled datasets (no download): iris, wine, breast_cancer, digits."""

from sklearn import datasets as skd

from data.dataset import Raw

_LOADERS = {
    "iris": skd.load_iris,
    "wine": skd.load_wine,
    "breast_cancer": skd.load_breast_cancer,
    "digits": skd.load_digits,
}
NAMES = tuple(_LOADERS)


def load(name):
    bunch = _LOADERS[name]()
    class_names = tuple(str(c) for c in bunch.target_names)
    if name == "digits":  # 8x8 images with pixel values 0..16: kept as images for the CNN
        return Raw(name, "image", bunch.images, bunch.target, class_names, pixel_scale=16.0)
    features = tuple(str(f) for f in bunch.feature_names)
    return Raw(name, "tabular", bunch.data, bunch.target, class_names, features)
