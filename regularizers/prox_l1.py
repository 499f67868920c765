"""Proximal L1: soft-thresholding w ← sign(w)·max(|w| − lr·λ, 0) after each optimizer step.

The proximal-gradient method for data loss + λ·Σ|w|: the optimizer steps on the data loss (and
any other penalty) alone, then the prox of λ·Σ|w| with step lr moves every placed kernel weight
towards zero by lr·λ and sets those that would cross zero to exactly zero. The subgradient
method (--reg=l1) instead adds λ·sign(w) to the gradient, which makes weights oscillate around
zero but rarely hit it. Under plain SGD this is the exact prox of the step; under momentum,
Adam or RMSprop the optimizer's step is preconditioned (per-weight step sizes), so lr·λ is not
the exact prox of the step taken, only a heuristic with the same fixed points. λ·Σ|w| is not
added to the loss (the prox replaces its gradient); its value is reported as the history column
and TensorBoard scalar `prox_l1/penalty`. Sparsity shows in weights/<layer>/zero_fraction.
"""

import tensorflow as tf

from regularizers.base import Regularizer, nonnegative, register


def soft_threshold(w, threshold):
    """sign(w)·max(|w| − threshold, 0): the prox of threshold·Σ|w|."""
    threshold = tf.cast(threshold, w.dtype)
    return tf.sign(w) * tf.maximum(tf.abs(w) - threshold, tf.zeros([], w.dtype))


@register
class ProxL1(Regularizer):
    name = "prox_l1"
    title = "Prox-L1"
    params = (
        nonnegative(
            "prox_l1",
            0.01,
            "Proximal L1 strength λ: after each step w ← sign(w)·max(|w| − lr·λ, 0) on the "
            "placed kernels (exact zeros; not a loss term).",
        ),
    )
    strength_param = "prox_l1"
    epoch_columns = ("prox_l1/penalty",)

    def after_step(self, model, learning_rate):
        threshold = learning_rate * self.prox_l1
        for kernel in model.hidden_kernels(self.layers):
            kernel.assign(soft_threshold(kernel, threshold))

    def epoch_values(self, context):
        kernels = context.model.hidden_kernels(self.layers)
        terms = [tf.reduce_sum(tf.abs(tf.cast(k, tf.float32))) for k in kernels]
        return [self.prox_l1 * tf.add_n(terms or [tf.zeros([])])]
