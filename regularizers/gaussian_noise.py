"""Additive Gaussian noise after a hidden block (Keras `GaussianNoise(stddev)`), training only.

In training mode the block's output a becomes a + ε, ε ~ N(0, σ²) elementwise, fresh every
step (σ = --noise_stddev, in [0, 1] as Keras requires); in inference it is the identity. It goes
where Dropout goes (after the activation and any normalization and pooling), by default after
the first hidden layer; σ = 0 inserts no layer. Seeded from --seed (seed + 2000 + layer), its
Keras seed state is checkpointed with the Dropout ones. TensorBoard:
`gaussian_noise/<layer>/snr`, the std of the layer's activations on the probe batch divided by
σ (a network can grow its activations to drown fixed additive noise; tanh layers cannot).
"""

import keras
import tensorflow as tf

from regularizers.base import NOISE, Param, Regularizer, register

SEED_OFFSET = 2000  # Dropout uses seed + 1000 + layer: distinct streams


@register
class GaussianNoise(Regularizer):
    name = "gaussian_noise"
    title = "Gaussian noise"
    params = (
        Param(
            "noise_stddev",
            0.1,
            "Std σ of the additive Gaussian noise a + N(0, σ²) in training (Keras GaussianNoise).",
            check=lambda v: 0 <= v <= 1,
            message="--noise_stddev must be in [0, 1]",
        ),
    )
    strength_param = "noise_stddev"

    def block_layers(self, index, *, seed, sync_bn):
        if index not in self.layers or self.noise_stddev <= 0:
            return []
        layer = keras.layers.GaussianNoise(self.noise_stddev, seed=seed + SEED_OFFSET + index)
        return [(NOISE, "gaussian_noise", layer)]

    def layer_stats(self, model, activations):
        if self.noise_stddev <= 0 or not self.layers:
            return []
        names = [model.blocks[i].core.name for i in self.layers]
        stds = tf.stack([tf.math.reduce_std(tf.cast(activations[n], tf.float32)) for n in names])
        return [("gaussian_noise", {"snr": stds / self.noise_stddev}, names)]
