"""Cutout (DeVries & Taylor 2017) through Keras `RandomErasing`: a square of each training image
set to 0.

Each training image, with probability --cutout_probability, gets a rectangle of
--cutout_size times its height by --cutout_size times its width set to 0 (the background of
digits and MNIST), placed uniformly inside the image: `keras.layers.RandomErasing(factor=(p, p),
scale=(s², s²), fill_value=0)`, whose sides are sqrt(scale) of the image's. Labels are kept.
Draws come from the step's stateless seed (regularizers/step_seeds.py): reproducible, resumed
bitwise. Image data only.
"""

import keras

from regularizers import step_seeds
from regularizers.base import Param, Regularizer, register

SALT = 200


@register
class Cutout(Regularizer):
    name = "cutout"
    title = "Cutout"
    default_layers = None
    image_only = True
    params = (
        Param(
            "cutout_size",
            0.5,
            "Cutout: side of the zeroed square, as a fraction of the image's height and width.",
            check=lambda v: 0 < v <= 1,
            message="--cutout_size must be a fraction in (0, 1]",
        ),
        Param(
            "cutout_probability",
            1.0,
            "Cutout: probability that a training image gets its square.",
            check=lambda v: 0 < v <= 1,
            message="--cutout_probability must be in (0, 1]",
        ),
    )
    strength_param = "cutout_size"

    def __init__(self, layers, values):
        super().__init__(layers, values)
        p, area = self.cutout_probability, self.cutout_size**2
        self.layer = keras.layers.RandomErasing(
            factor=(p, p), scale=(area, area), fill_value=0.0, value_range=(0, 1), dtype="float32"
        )

    def transform(self, x, y, seed):
        return step_seeds.apply(self.layer, x, step_seeds.base_seed(seed, SALT)), y
