"""A small conv net for image data: Conv2D blocks with max-pooling, Dense blocks, logits out."""

import keras

from models.base import PACKAGE, BlockModel


@keras.saving.register_keras_serializable(package=PACKAGE)
class CNN(BlockModel):
    def __init__(
        self,
        num_classes,
        *,
        conv_filters=(32, 64),
        dense=(128,),
        activation="relu",
        last_activation="relu",
        inserted=None,
        **kwargs,
    ):
        super().__init__(num_classes, **kwargs)
        cores = [
            keras.layers.Conv2D(f, 3, padding="same", name=f"conv{i}")
            for i, f in enumerate(conv_filters)
        ]
        n = len(conv_filters)
        cores += [keras.layers.Dense(w, name=f"dense{n + i}") for i, w in enumerate(dense)]
        acts = [activation] * (len(cores) - 1) + [last_activation]
        pools = [keras.layers.MaxPooling2D(2, padding="same") for _ in conv_filters]
        pools += [None] * len(dense)
        self.blocks = self.make_blocks(cores, acts, inserted or {}, pools=pools)
        self.flatten_before = n

    def architecture(self):
        n = self.flatten_before
        return {
            "conv_filters": [b.core.filters for b in self.blocks[:n]],
            "dense": [b.core.units for b in self.blocks[n:]],
        }
