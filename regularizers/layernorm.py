"""Layer normalization after a hidden block's activation (Keras `LayerNormalization`).

Each example's activations a (over the last axis: a Dense layer's units, a conv map's
channels at each pixel) are normalized by their own mean and variance and rescaled,
y = γ·(a − μ) / sqrt(σ² + 10⁻³) + β, in training and inference alike (no batch statistics,
unlike BatchNorm). It goes where BatchNorm goes (after the activation, before pooling), by
default after the second hidden layer, the tutorial's BatchNorm place. TensorBoard:
`layernorm/<layer>/input_std` (mean over probe examples of the per-example std that LN divides
by) and `layernorm/<layer>/gamma_rms` (the scale it learns back).
"""

import keras
import tensorflow as tf

from regularizers.base import NORMALIZE, Regularizer, register


@register
class LayerNorm(Regularizer):
    name = "layernorm"
    title = "LayerNorm"
    default_layers = 1

    def block_layers(self, index, *, seed, sync_bn):
        if index not in self.layers:
            return []
        return [(NORMALIZE, "ln", keras.layers.LayerNormalization())]

    def layer_stats(self, model, activations):
        blocks = [model.blocks[i] for i in self.layers]
        if not blocks:
            return []
        names = [b.core.name for b in blocks]
        input_std = [
            tf.reduce_mean(tf.math.reduce_std(tf.cast(activations[n], tf.float32), axis=-1))
            for n in names
        ]
        gamma_rms = [tf.sqrt(tf.reduce_mean(tf.square(b.ln.gamma))) for b in blocks]
        return [
            (
                "layernorm",
                {"input_std": tf.stack(input_std), "gamma_rms": tf.stack(gamma_rms)},
                names,
            )
        ]
