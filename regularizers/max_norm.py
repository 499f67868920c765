"""Max-norm (Keras MaxNorm): each unit's incoming weights projected onto ‖w_j‖₂ ≤ c after each step.

After every optimizer step each placed kernel is replaced by Keras's
`keras.constraints.MaxNorm(c, axis)` of it, as `fit` does for a `kernel_constraint`:

    w_j ← w_j · min(‖w_j‖₂, c) / (ε + ‖w_j‖₂),   ε = 1e-7 (keras.backend.epsilon())

where w_j is unit j's incoming weights: a column of a Dense kernel (axis=0), a filter
kernel[:, :, :, j] of a Conv2D kernel (axis=[0, 1, 2]). No loss term.

TensorBoard: max_norm/<layer>/{at_bound, max_unit_norm}: the fraction of units whose norm is at
the bound (≥ c·(1 − 1e-6)) and the largest unit norm.
"""

import keras
import tensorflow as tf

from regularizers.base import Param, Regularizer, register


def unit_axes(kernel):
    """The axes of one unit's incoming weights: 0 for Dense (Keras's default), [0, 1, 2] for
    Conv2D."""
    rank = len(kernel.shape)
    return 0 if rank == 2 else list(range(rank - 1))


def max_norm(kernel, c):
    """keras.constraints.MaxNorm(c) of the kernel, over its units' incoming weights."""
    return keras.constraints.MaxNorm(max_value=c, axis=unit_axes(kernel))(kernel)


def unit_norms(kernel):
    """‖w_j‖₂ of each unit's incoming weights, [units] float32."""
    k = tf.cast(kernel, tf.float32)
    return tf.sqrt(tf.reduce_sum(tf.square(k), axis=list(range(len(k.shape) - 1))))


@register
class MaxNorm(Regularizer):
    name = "max_norm"
    title = "Max-norm"
    params = (
        Param(
            "max_norm",
            2.0,
            "Max-norm bound c (Keras MaxNorm's default 2): after each step every unit's "
            "incoming weights on the placed layers are scaled to L2 norm <= c.",
            check=lambda v: v > 0,
            message="--max_norm must be a number > 0",
        ),
    )
    strength_param = "max_norm"

    def after_step(self, model, learning_rate):
        for kernel in model.hidden_kernels(self.layers):
            kernel.assign(max_norm(kernel, self.max_norm))

    def layer_stats(self, model, activations):
        if not self.layers:
            return []
        norms = [unit_norms(k) for k in model.hidden_kernels(self.layers)]
        bound = self.max_norm * (1 - 1e-6)
        at_bound = tf.stack([tf.reduce_mean(tf.cast(n >= bound, tf.float32)) for n in norms])
        largest = tf.stack([tf.reduce_max(n) for n in norms])
        names = [model.blocks[i].core.name for i in self.layers]
        return [("max_norm", {"at_bound": at_bound, "max_unit_norm": largest}, names)]
