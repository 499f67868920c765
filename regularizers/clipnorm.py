"""Gradient clipping by global norm: the Keras optimizers' own `global_clipnorm`.

Before each update the optimizer rescales the gradients g of all trainable variables to

    g <- g · min(1, c / ‖g‖)        (‖g‖ over all of them; c = --clipnorm)

(keras.optimizers.Optimizer._clip_gradients). Under several replicas Keras clips each replica's
gradient before they are summed. TensorBoard and the history: `clipnorm/clipped_fraction`, the
fraction of the epoch's steps (replica steps) whose gradient was clipped, and
`clipnorm/grad_norm`, the mean ‖g‖ before clipping (unscaled under fp16 loss scaling).
"""

import tensorflow as tf

from regularizers.base import Param, Regularizer, register


@register
class ClipNorm(Regularizer):
    name = "clipnorm"
    title = "Clip norm"
    default_layers = None
    params = (
        Param(
            "clipnorm",
            1.0,
            "Gradient clipping: the optimizer rescales the gradients to global norm at most this.",
            check=lambda v: v > 0,
            message="--clipnorm must be a finite number > 0",
        ),
    )
    strength_param = "clipnorm"
    step_columns = ("clipnorm/clipped_fraction", "clipnorm/grad_norm")

    def optimizer_options(self):
        return {"global_clipnorm": self.clipnorm}

    def step_values(self, grads, unscale):
        norm = tf.linalg.global_norm(grads) * unscale
        return [tf.cast(norm > self.clipnorm, tf.float32), norm]
