"""Decoupled weight decay through the Keras optimizer's own `weight_decay` (AdamW's, any optimizer).

Each step, before the gradient update, Keras shrinks every decayed variable:

    w <- w - lr·λ·w        then the optimizer's usual step with the data (+ penalty) gradient

(keras.optimizers.Optimizer._apply_weight_decay; lr is the step's learning rate, so a schedule
scales the decay too). Under plain SGD this is an L2 penalty (λ/2)·Σw² on the same variables:
Keras's 'l2' has no ½, so --l2=c matches --weight_decay=2c. Under Adam, RMSprop or momentum it
is not, since the decay bypasses the gradient statistics (Loshchilov & Hutter, "Decoupled weight
decay regularization"). `--optimizer=adamw` is Keras AdamW; `--optimizer=adam
--reg=weight_decay` is the same update.

Not placed on layers: it decays every trainable variable except, by default, biases and
normalization parameters (Keras variable names bias, gamma, beta: excluded with
`optimizer.exclude_from_weight_decay(var_names=...)`); `--weight_decay_all` decays them too
(Keras's own default). TensorBoard: `weight_decay/sq_norm`, Σw² over the decayed variables.
"""

import tensorflow as tf

import framework_internals
from regularizers.base import Param, Regularizer, nonnegative, register

# Keras 3 variable names (variable.name, the last part of its path) that are not decayed:
# Dense/Conv biases and BatchNorm/LayerNorm scale and offset. Matched with re.search by Keras.
EXCLUDED_NAMES = ("bias", "gamma", "beta")


@register
class WeightDecay(Regularizer):
    name = "weight_decay"
    title = "Weight decay"
    default_layers = None
    params = (
        nonnegative(
            "weight_decay",
            0.004,
            "Decoupled weight decay λ: each step w <- w - lr·λ·w before the optimizer's update "
            "(the Keras optimizers' weight_decay; AdamW's default 0.004).",
        ),
        Param(
            "weight_decay_all",
            False,
            "Decay biases and normalization parameters too (default: kernels only).",
            kind="bool",
        ),
    )
    strength_param = "weight_decay"
    decoupled_weight_decay = True
    epoch_columns = ("weight_decay/sq_norm",)

    def optimizer_options(self):
        return {"weight_decay": self.weight_decay}

    def configure_optimizer(self, optimizer, model):
        if not self.weight_decay_all:
            optimizer.exclude_from_weight_decay(var_names=list(EXCLUDED_NAMES))

    def decayed(self, optimizer, variables):
        """The variables among `variables` that `optimizer` decays (Keras's own test)."""
        from training.optim import inner

        opt = inner(optimizer)
        return [v for v in variables if framework_internals.decays_weight(opt, v)]

    def epoch_values(self, context):
        variables = self.decayed(context.optimizer, context.model.trainable_variables)
        squares = [tf.reduce_sum(tf.square(tf.cast(v, tf.float32))) for v in variables]
        return [tf.add_n(squares) if squares else tf.zeros([])]
