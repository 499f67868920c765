"""The shared model skeleton: hidden blocks with the layers regularizers insert, then logits.

Every model is a stack of hidden blocks (a Dense or Conv2D core, its activation, then whatever
layers the active regularizers insert: normalization before pooling, noise after it) and a Dense
output layer producing logits. Exposing activations and naming layers are done here once, so a
new model only lists its blocks.
"""

import keras

from regularizers.base import NORMALIZE


class Block(keras.layers.Layer):
    """core -> activation -> [normalize layers] -> [pool] -> [noise layers]."""

    def __init__(self, core, activation, *, inserted=(), pool=None, **kwargs):
        super().__init__(**kwargs)
        self.core = core
        self.activation = keras.activations.get(activation)
        self.activation_name = activation
        self.pool = pool
        self.normalize, self.noise = [], []
        for stage, attr, layer in inserted:
            # An attribute, not only a list entry: tf.train.Checkpoint follows attributes.
            setattr(self, attr, layer)
            (self.normalize if stage == NORMALIZE else self.noise).append(layer)

    def call(self, x, training=False):
        a = self.activation(self.core(x))
        y = a
        for layer in self.normalize:
            y = layer(y, training=training)
        if self.pool is not None:
            y = self.pool(y)
        for layer in self.noise:
            y = layer(y, training=training)
        return y, a


class BlockModel(keras.Model):
    """Subclasses set self.blocks (hidden Blocks, in order) and self.flatten_before."""

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        # float32 logits even under mixed precision, so the loss is computed in float32.
        self.out = keras.layers.Dense(num_classes, dtype="float32", name="output")

    def make_blocks(self, cores, activations, inserted, *, pools=None):
        """`inserted`: {hidden index: [(stage, attribute, layer)]} from the regularizers."""
        blocks = [
            Block(
                core,
                act,
                inserted=inserted.get(i, ()),
                pool=pools[i] if pools else None,
                name=f"block{i}",
            )
            for i, (core, act) in enumerate(zip(cores, activations, strict=True))
        ]
        # Keras tracks list attributes for its own saving, but tf.train.Checkpoint only follows
        # layer attributes: each block is an attribute too, so checkpoints hold its weights.
        for block in blocks:
            setattr(self, block.name, block)
        return blocks

    def call(self, x, training=False, return_activations=False):
        activations = {}
        for i, block in enumerate(self.blocks):
            if i == self.flatten_before:
                x = self.flatten(x)
            x, activations[block.core.name] = block(x, training=training)
        if self.flatten_before >= len(self.blocks):
            x = self.flatten(x)
        logits = self.out(x)
        return (logits, activations) if return_activations else logits

    def kernel_layers(self):
        """(name, layer) for every Dense/Conv layer, hidden then output."""
        return [(b.core.name, b.core) for b in self.blocks] + [("output", self.out)]

    def hidden_kernels(self, indices):
        """Kernels of the hidden layers at `indices`."""
        return [self.blocks[i].core.kernel for i in indices]
