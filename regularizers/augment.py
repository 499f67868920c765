"""Data augmentation of training images through Keras's image layers, inside the compiled step.

`--augment` lists the transformations, applied in this order to every training batch (each
example gets its own draw; validation and test images stay as they are):

    translate=F    keras.layers.RandomTranslation(F, F): shift by up to F of the height/width
    rotate=D       keras.layers.RandomRotation(D/360): rotate by up to D degrees either way
    zoom=F         keras.layers.RandomZoom((-F, F)): zoom in or out by up to F, aspect kept
    flip[=MODE]    keras.layers.RandomFlip(MODE): horizontal (default), vertical or both

e.g. `--augment=translate=0.1,rotate=10,zoom=0.1,flip`. Pixels moved in from outside the image
are 0 (fill_mode "constant": the background of digits and MNIST). The draws come from the
step's stateless seed (regularizers/step_seeds.py), so a run is reproducible and resumes
bitwise with nothing extra checkpointed. Image data only ([n, h, w, c] inputs; any model); not
under --xla.
"""

import keras

from regularizers import step_seeds
from regularizers.base import Param, Regularizer, register

FLIP_MODES = {"horizontal": "horizontal", "vertical": "vertical", "both": "horizontal_and_vertical"}
# name -> (check of the value, what it must be)
LIMITS = {
    "translate": (lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
    "rotate": (lambda v: 0 < v <= 180, "degrees in (0, 180]"),
    "zoom": (lambda v: 0 < v < 1, "a fraction in (0, 1)"),
}
SALT = 100  # this regularizer's share of the step seed: 100 + the layer's position


def parse(items):
    """['translate=0.1', 'flip'] -> [('translate', 0.1), ('flip', 'horizontal')]; ValueError."""
    out, seen = [], set()
    for item in items:
        name, eq, value = item.partition("=")
        if name in seen:
            raise ValueError(f"{name} is given twice")
        seen.add(name)
        if name == "flip":
            mode = value if eq else "horizontal"
            if mode not in FLIP_MODES:
                raise ValueError(f"flip={mode} is not horizontal, vertical or both")
            out.append((name, mode))
            continue
        if name not in LIMITS:
            raise ValueError(f"{item!r} is not one of translate=, rotate=, zoom=, flip")
        check, what = LIMITS[name]
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name} needs a number, e.g. {name}=0.1") from None
        if not check(number):  # NaN fails every comparison
            raise ValueError(f"{name}={value} must be {what}")
        out.append((name, number))
    if not out:
        raise ValueError("it lists no transformation")
    return out


def valid(items):
    try:
        parse(items)
    except ValueError:
        return False
    return True


def make_layer(name, value):
    fill = {"fill_mode": "constant", "fill_value": 0.0, "dtype": "float32"}
    if name == "translate":
        return keras.layers.RandomTranslation(value, value, **fill)
    if name == "rotate":
        return keras.layers.RandomRotation(value / 360.0, **fill)
    if name == "zoom":
        return keras.layers.RandomZoom((-value, value), **fill)
    return keras.layers.RandomFlip(FLIP_MODES[value], dtype="float32")


@register
class Augment(Regularizer):
    name = "augment"
    title = "Augmentation"
    default_layers = None
    image_only = True
    no_xla = "Keras's image transformations (ImageProjectiveTransformV3) have no XLA kernel"
    params = (
        Param(
            "augment",
            ["translate=0.1", "rotate=10", "zoom=0.1"],
            "Training-image augmentation, a comma list of translate=F, rotate=DEGREES, "
            "zoom=F, flip[=horizontal|vertical|both] (Keras layers, in this order).",
            kind="list",
            check=valid,
            message="--augment must be a comma list of translate=F (0 < F <= 1), rotate=DEGREES "
            "(0 < D <= 180), zoom=F (0 < F < 1), flip[=horizontal|vertical|both], each once, "
            "e.g. translate=0.1,rotate=10,zoom=0.1,flip",
        ),
    )
    strength_param = "augment"

    def __init__(self, layers, values):
        super().__init__(layers, values)
        self.keras_layers = [make_layer(n, v) for n, v in parse(self.augment)]

    def transform(self, x, y, seed):
        for i, layer in enumerate(self.keras_layers):
            x = step_seeds.apply(layer, x, step_seeds.base_seed(seed, SALT + i))
        return x, y
