"""Optimizers by name, with mixed-precision loss scaling where fp16 needs it."""

import keras

_OPTIMIZERS = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
}


def make(name, learning_rate, mixed_precision="none"):
    optimizer = _OPTIMIZERS[name](learning_rate=learning_rate)
    if mixed_precision == "fp16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def set_precision_policy(mixed_precision):
    policy = {"none": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
    keras.mixed_precision.set_dtype_policy(policy[mixed_precision])
