"""Multiplicative Gaussian noise after a hidden block (Keras `GaussianDropout(rate)`).

In training mode the block's output a becomes a·ξ, ξ ~ N(1, rate / (1 − rate)) elementwise,
fresh every step: the same mean and variance as inverted Dropout with that rate, without
zeros; in inference it is the identity. It goes where Dropout goes, by default after the first
hidden layer; rate 0 inserts no layer. Seeded from --seed (seed + 3000 + layer), its Keras seed
state is checkpointed with the Dropout ones.
"""

import keras

from regularizers.base import NOISE, Param, Regularizer, register

SEED_OFFSET = 3000  # Dropout: 1000, GaussianNoise: 2000


@register
class GaussianDropout(Regularizer):
    name = "gaussian_dropout"
    title = "Gaussian dropout"
    params = (
        Param(
            "gaussian_dropout_rate",
            0.1,
            "GaussianDropout rate p: training multiplies activations by N(1, p/(1−p)) noise.",
            check=lambda v: 0 <= v < 1,
            message="--gaussian_dropout_rate must be in [0, 1)",
        ),
    )
    strength_param = "gaussian_dropout_rate"

    def block_layers(self, index, *, seed, sync_bn):
        if index not in self.layers or self.gaussian_dropout_rate <= 0:
            return []
        layer = keras.layers.GaussianDropout(
            self.gaussian_dropout_rate, seed=seed + SEED_OFFSET + index
        )
        return [(NOISE, "gaussian_dropout", layer)]
