"""The tutorial's MLP: Dense hidden layers (tanh, relu last), logits out."""

import keras

from models.base import PACKAGE, BlockModel


@keras.saving.register_keras_serializable(package=PACKAGE)
class MLP(BlockModel):
    def __init__(
        self,
        num_classes,
        *,
        hidden=(512, 256, 128, 64, 32),
        activation="tanh",
        last_activation="relu",
        inserted=None,
        **kwargs,
    ):
        super().__init__(num_classes, **kwargs)
        cores = [keras.layers.Dense(w, name=f"dense{i}") for i, w in enumerate(hidden)]
        acts = [activation] * (len(hidden) - 1) + [last_activation] if hidden else []
        self.blocks = self.make_blocks(cores, acts, inserted or {})
        self.flatten_before = 0  # image inputs are flattened

    def architecture(self):
        return {"hidden": [b.core.units for b in self.blocks]}
