"""The shared model skeleton: hidden blocks with the layers regularizers insert, then logits.

Every model is a stack of hidden blocks (a Dense or Conv2D core, its activation, then whatever
layers the active regularizers insert: normalization before pooling, noise after it) and a Dense
output layer producing logits. Exposing activations and naming layers are done here once, so a
new model only lists its blocks.

Models and blocks are registered Keras serializables (package "regstudy"): `model.save(...)`
writes a .keras file that `keras.models.load_model` opens once this package is imported. An
inserted layer is serialized generically, so any Keras layer a regularizer inserts round-trips
(a custom one needs its own `register_keras_serializable`).
"""

import keras

from regularizers.base import NOISE, NORMALIZE, WRAP

PACKAGE = "regstudy"
_serialize = keras.saving.serialize_keras_object
_deserialize = keras.saving.deserialize_keras_object


@keras.saving.register_keras_serializable(package=PACKAGE)
class Block(keras.layers.Layer):
    """core (or a wrapper around it) -> activation -> [normalize layers] -> [pool] -> [noise]."""

    wrap_attr = None  # the attribute holding a WRAP entry's wrapper (set only when there is one)

    def __init__(self, core, activation, *, inserted=(), pool=None, **kwargs):
        super().__init__(**kwargs)
        self.core = core
        self.activation = keras.activations.get(activation)
        self.activation_name = activation
        self.pool = pool
        self.normalize, self.noise = [], []
        for stage, attr, layer in inserted:
            if stage == WRAP:  # a function core -> Keras Wrapper (the wrapper shares the core)
                layer = layer(core)
                self.wrap_attr = attr
            # An attribute, not only a list entry: tf.train.Checkpoint follows attributes.
            setattr(self, attr, layer)
            if stage != WRAP:
                (self.normalize if stage == NORMALIZE else self.noise).append(layer)

    def build(self, input_shape):
        # The layers in call order, from shapes: Keras's default build traces call() in a
        # scratch graph instead (~0.1 s a model). The variables are created in the same order.
        # (A layer deserialized from a .keras file may come built already.)
        _build(self.core, input_shape)
        if self.wrap_attr:
            _build(getattr(self, self.wrap_attr), input_shape)
        for layer in self.normalize:
            _build(layer, self.core.compute_output_shape(input_shape))
        for layer in self.noise:
            _build(layer, self.compute_output_shape(input_shape))

    def compute_output_shape(self, input_shape):
        shape = self.core.compute_output_shape(input_shape)
        return self.pool.compute_output_shape(shape) if self.pool is not None else shape

    def call(self, x, training=False):
        if self.wrap_attr:
            a = self.activation(getattr(self, self.wrap_attr)(x, training=training))
        else:
            a = self.activation(self.core(x))
        y = a
        for layer in self.normalize:
            y = layer(y, training=training)
        if self.pool is not None:
            y = self.pool(y)
        for layer in self.noise:
            y = layer(y, training=training)
        return y, a

    def inserted(self):
        """[(stage, attribute, layer)] as given to __init__, normalize stage first. Read back
        from the attributes (not stored apart: new tracked state would change checkpoints)."""
        attrs = {id(v): k for k, v in vars(self).items() if isinstance(v, keras.layers.Layer)}
        wrapped = [(WRAP, self.wrap_attr, getattr(self, self.wrap_attr))] if self.wrap_attr else []
        return (
            wrapped
            + [(NORMALIZE, attrs[id(x)], x) for x in self.normalize]
            + [(NOISE, attrs[id(x)], x) for x in self.noise]
        )

    def get_config(self):
        return {
            **super().get_config(),
            "core": _serialize(self.core),
            "activation": self.activation_name,
            "pool": None if self.pool is None else _serialize(self.pool),
            "inserted": serialize_inserted(self.inserted()),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        core = _deserialize(config.pop("core"))
        pool = config.pop("pool")
        return cls(
            core,
            config.pop("activation"),
            inserted=deserialize_inserted(config.pop("inserted")),
            pool=None if pool is None else _deserialize(pool),
            **config,
        )


def _build(layer, input_shape):
    if not layer.built:
        layer.build(input_shape)


def serialize_inserted(triples):
    return [{"stage": s, "attribute": a, "layer": _serialize(x)} for s, a, x in triples]


def deserialize_inserted(items):
    return [(d["stage"], d["attribute"], _inserted_layer(d)) for d in items]


def _inserted_layer(d):
    """The layer of a serialized entry; for a WRAP entry, the function core -> wrapper that
    Block expects (the saved wrapper holds a copy of the core: it is rebuilt around the block's)."""
    layer = _deserialize(d["layer"])
    if d["stage"] != WRAP:
        return layer
    config = layer.get_config()
    config.pop("layer")
    return lambda core: type(layer)(core, **config)


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

    def build(self, input_shape):
        # Each block from its input shape (Block.build), as call() would meet them.
        shape = tuple(input_shape)
        for i, block in enumerate(self.blocks):
            if i == self.flatten_before:
                shape = self.flatten.compute_output_shape(shape)
            _build(block, shape)
            shape = block.compute_output_shape(shape)
        if self.flatten_before >= len(self.blocks):
            shape = self.flatten.compute_output_shape(shape)
        _build(self.out, shape)

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

    # ---- serialization: the constructor's arguments, read back from the blocks -----------------
    def architecture(self):
        """The subclass's own constructor arguments (widths), from its blocks."""
        raise NotImplementedError

    def get_config(self):
        acts = [b.activation_name for b in self.blocks] or ["relu"]
        inserted = {str(i): serialize_inserted(b.inserted()) for i, b in enumerate(self.blocks)}
        return {
            **super().get_config(),
            "num_classes": self.out.units,
            **self.architecture(),
            # Every block but the last uses `activation` (with one block it is unused).
            "activation": acts[0],
            "last_activation": acts[-1],
            "inserted": inserted,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        inserted = {int(i): deserialize_inserted(v) for i, v in config.pop("inserted").items()}
        # The blocks' cores are made by __init__ under the global dtype policy: make it the
        # model's own (mixed_bfloat16 under --mixed_precision), as it was when the model was built.
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(keras.dtype_policies.deserialize(config["dtype"]))
        try:
            return cls(inserted=inserted, **config)
        finally:
            keras.config.set_dtype_policy(previous)

    def kernel_layers(self):
        """(name, layer) for every Dense/Conv layer, hidden then output."""
        return [(b.core.name, b.core) for b in self.blocks] + [("output", self.out)]

    def hidden_kernels(self, indices):
        """Kernels of the hidden layers at `indices`."""
        return [self.blocks[i].core.kernel for i in indices]
