"""Spectral normalization (Miyato et al. 2018) of the placed layers' kernels, Keras's own
`SpectralNormalization` wrapper around each placed Dense/Conv2D core.

In training mode the wrapper estimates the kernel's largest singular value σ by power iteration
(--spectral_power_iterations per step, its vector u a non-trainable weight carried from step to
step) and assigns W <- W / σ before the layer runs; the gradient step then updates that
normalized W (keras.layers.SpectralNormalization.call). Evaluation uses the kernel as it is.
Conv kernels are reshaped to [kh·kw·in, out] for σ. Placed like L1/L2: the first hidden layer,
every hidden layer with --all_layers (Miyato et al.'s setting), or the layers --layers names; the
output layer is not normalized.
"""

import functools

import keras

from regularizers.base import WRAP, Param, Regularizer, register


@register
class SpectralNorm(Regularizer):
    name = "spectral_norm"
    title = "Spectral norm"
    params = (
        Param(
            "spectral_power_iterations",
            1,
            "Spectral normalization: power iterations per training step to estimate σ.",
            kind="int",
            check=lambda v: 1 <= v <= 100,
            message="--spectral_power_iterations must be an integer in 1..100",
        ),
    )
    strength_param = "spectral_power_iterations"

    def block_layers(self, index, *, seed, sync_bn):
        if index not in self.layers:
            return []
        wrap = functools.partial(
            keras.layers.SpectralNormalization,
            power_iterations=self.spectral_power_iterations,
            name=f"spectral_norm{index}",
        )
        return [(WRAP, "spectral_norm", wrap)]
