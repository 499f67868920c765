"""The tutorial's MLP: Dense hidden layers (tanh, relu last), logits out."""

import keras

from models.base import BlockModel


class MLP(BlockModel):
    def __init__(
        self,
        placement,
        num_classes,
        *,
        hidden=(512, 256, 128, 64, 32),
        activation="tanh",
        last_activation="relu",
        seed=0,
        sync_bn=False,
        **kwargs,
    ):
        super().__init__(placement, num_classes, **kwargs)
        cores = [keras.layers.Dense(w, name=f"dense{i}") for i, w in enumerate(hidden)]
        acts = [activation] * (len(hidden) - 1) + [last_activation] if hidden else []
        self.blocks = self.make_blocks(cores, acts, seed=seed, sync_bn=sync_bn)
        self.flatten_before = 0  # image inputs are flattened
