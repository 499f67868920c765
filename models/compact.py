"""A model without its dead hidden units, as a plain functional Keras model (prune.py).

A hidden unit (a Dense feature or a conv channel) is dead when every weight that reads it is
exactly zero: its row of the next Dense kernel, its input slice kernel[:, :, j, :] of the next
conv kernel, or its rows j, j+C, ... of a Dense kernel after Flatten, counting only the next
layer's live units (so deaths cascade backwards). Removing a dead unit (its kernel column or
filter, its bias, its BatchNorm parameters, and those reading weights) leaves every prediction
the same up to float rounding: the next layer summed zeros for it. Group lasso (--reg=group_lasso)
zeroes exactly these groups.

A block with a layer that mixes its units (LayerNormalization, or any layer not known to act
per unit) keeps all its units: removing one would change the others' statistics.
"""

import keras
import numpy as np

# Layers that act on each unit (feature or channel) on its own: a unit can be removed under them.
_PER_UNIT = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
    keras.layers.BatchNormalization,
)


def _inserted(block):
    return [*block.normalize, *block.noise]


def prunable(block):
    """Whether units of `block` can be removed: every inserted layer acts per unit (BatchNorm
    only over the last axis)."""
    last = len(block.core.kernel.shape) - 1  # of the activations: 1 after Dense, 3 after conv
    for layer in _inserted(block):
        if not isinstance(layer, _PER_UNIT):
            return False
        bn = isinstance(layer, keras.layers.BatchNormalization)
        if bn and list(np.atleast_1d(layer.axis)) not in ([-1], [last]):
            return False
    return True


def _reading(kernel, num_units):
    """A kernel that reads `num_units` units as [positions, units, outputs] (numpy)."""
    return np.asarray(kernel).reshape(-1, num_units, kernel.shape[-1])


def _kernel_after(model, index):
    blocks = model.blocks
    layer = blocks[index + 1].core if index + 1 < len(blocks) else model.out
    return layer.kernel.numpy()


def live_units(model):
    """[bool mask per hidden block]: which units something downstream still reads."""
    blocks = model.blocks
    masks = [None] * len(blocks)
    columns = slice(None)  # live output units of the reading layer (all of the output layer)
    for i in reversed(range(len(blocks))):
        n = int(blocks[i].core.kernel.shape[-1])
        reading = _reading(_kernel_after(model, i), n)[:, :, columns]
        mask = np.any(reading != 0, axis=(0, 2))
        if not prunable(blocks[i]):
            mask[:] = True
        if not mask.any():  # nothing reads the layer: keep one unit, the output is constant
            mask[0] = True
        masks[i] = mask
        columns = mask
    return masks


def _drop_inputs(kernel, num_units, mask):
    """The kernel without the rows (input channels) of the units `mask` drops."""
    kept = _reading(kernel, num_units)[:, mask, :]
    if kernel.ndim == 4:  # conv: [kh, kw, inputs, filters]
        return kept.reshape(*kernel.shape[:2], int(mask.sum()), kernel.shape[-1])
    return kept.reshape(-1, kernel.shape[-1])


def _clone(layer, **changes):
    return type(layer).from_config({**layer.get_config(), **changes})


def compact(model, input_shape, masks=None):
    """A functional keras.Model computing what `model` computes, with only the units `masks`
    keeps (default: live_units(model)); weights copied."""
    masks = live_units(model) if masks is None else masks
    x = inputs = keras.Input(shape=tuple(input_shape))
    weights = []  # (new layer, weights) set once the graph is built
    previous = None  # (units, mask) of the layer feeding the next kernel
    for i, block in enumerate(model.blocks):
        if i == model.flatten_before:
            x = keras.layers.Flatten()(x)
        core, mask = block.core, masks[i]
        size = {"filters" if hasattr(core, "filters") else "units": int(mask.sum())}
        new_core = _clone(core, activation=block.activation_name, **size)
        kernel, bias = core.kernel.numpy(), core.bias.numpy()
        if previous is not None:
            kernel = _drop_inputs(kernel, *previous)
        weights.append((new_core, [kernel[..., mask], bias[mask]]))
        x = new_core(x)
        for layer in block.normalize:
            x = _inserted_layer(layer, mask, weights)(x)
        if block.pool is not None:
            x = _clone(block.pool)(x)
        for layer in block.noise:
            x = _inserted_layer(layer, mask, weights)(x)
        previous = (len(mask), mask)
    if model.flatten_before >= len(model.blocks):
        x = keras.layers.Flatten()(x)
    out = _clone(model.out)
    kernel = model.out.kernel.numpy()
    if previous is not None:
        kernel = _drop_inputs(kernel, *previous)
    weights.append((out, [kernel, model.out.bias.numpy()]))
    result = keras.Model(inputs, out(x), name=f"{model.name}_compact")
    for layer, values in weights:
        layer.set_weights(values)
    return result


def _inserted_layer(layer, mask, weights):
    new = _clone(layer)
    values = layer.get_weights()
    if values:  # BatchNormalization: every weight is per unit
        weights.append((new, [v[mask] for v in values]))
    return new


def parameter_count(model):
    """Weights of the model (trainable and not, BatchNorm's moving statistics included), without
    Dropout's random-generator states."""
    return int(sum(np.prod(w.shape) for w in model.weights if "seed_generator" not in w.path))
