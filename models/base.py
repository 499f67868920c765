"""The shared model skeleton: hidden blocks with optional BatchNorm/Dropout, then an output layer.

Every model is a stack of hidden blocks (a Dense or Conv2D core, its activation, then BatchNorm
and Dropout where the Placement says) and a Dense output layer producing logits. Placing L1/L2,
exposing activations and naming layers are done here once, so a new model only lists its blocks.
"""

import keras


class Block(keras.layers.Layer):
    """core -> activation -> [BatchNorm] -> [pool] -> [Dropout]."""

    def __init__(
        self,
        core,
        activation,
        *,
        batchnorm=False,
        dropout=0.0,
        pool=None,
        seed=None,
        sync_bn=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.core = core
        self.activation = keras.activations.get(activation)
        self.activation_name = activation
        self.bn = keras.layers.BatchNormalization(synchronized=sync_bn) if batchnorm else None
        self.pool = pool
        self.dropout = keras.layers.Dropout(dropout, seed=seed) if dropout > 0 else None

    def call(self, x, training=False):
        a = self.activation(self.core(x))
        y = self.bn(a, training=training) if self.bn is not None else a
        if self.pool is not None:
            y = self.pool(y)
        if self.dropout is not None:
            y = self.dropout(y, training=training)
        return y, a


class BlockModel(keras.Model):
    """Subclasses set self.blocks (hidden Blocks, in order) and self.flatten_before."""

    def __init__(self, placement, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.placement = placement
        self.flatten = keras.layers.Flatten()
        # float32 logits even under mixed precision, so the loss is computed in float32.
        self.out = keras.layers.Dense(num_classes, dtype="float32", name="output")

    def make_blocks(self, cores, activations, *, seed, sync_bn, pools=None):
        rates = self.placement.dropout_rates
        blocks = [
            Block(
                core,
                act,
                batchnorm=i in self.placement.batchnorm,
                dropout=rates.get(i, 0.0),
                pool=pools[i] if pools else None,
                seed=seed + 1000 + i,
                sync_bn=sync_bn,
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

    def penalized_kernels(self, reg):
        """Kernels of the hidden layers that get `reg` ("l1" or "l2")."""
        return [self.blocks[i].core.kernel for i in getattr(self.placement, reg)]

    def batchnorm_layers(self):
        """(activation name, BatchNormalization layer) for blocks that have one."""
        return [(b.core.name, b.bn) for b in self.blocks if b.bn is not None]
