"""Exponential moving average of the weights (Keras optimizers' `use_ema`), evaluated and kept.

After each optimizer step Keras updates one average per trainable variable:

    ŵ <- m·ŵ + (1 − m)·w        (m = --ema_momentum; the first step sets ŵ = w)

(keras.optimizers.Optimizer._update_model_variables_moving_average). Training itself uses and
updates the raw weights w only: with `ema_overwrite_frequency=None` (used here) Keras never
writes ŵ into the model during training. When the run ends, `finalize` puts ŵ into the model
(`optimizer.finalize_variable_values`, as Keras `fit` does at its end), so the test split, the
final weight statistics and the exported model are those of the averaged weights. BatchNorm's
moving mean and variance are not trainable and are not averaged (Keras does the same).

TensorBoard and the history: `ema/val_data_loss`, `ema/val_accuracy`, `ema/val_mse` (the
validation split evaluated with ŵ swapped into the model, every epoch, inside the compiled
loop) next to the raw weights' `val` curves, and `ema/rel_distance` = ‖ŵ − w‖ / ‖w‖ over all
trainable variables. The run's best epoch, early stopping and metrics.json's final `val_*` are
those of the raw weights; its `test_*` are those of ŵ.
"""

import tensorflow as tf

import framework_internals
from regularizers.base import Param, Regularizer, register
from training.optim import inner


@register
class EMA(Regularizer):
    name = "ema"
    title = "EMA"
    default_layers = None
    params = (
        Param(
            "ema_momentum",
            0.99,
            "Momentum m of the weights' moving average ŵ <- m·ŵ + (1−m)·w; the test split and "
            "the final model use ŵ.",
            check=lambda v: 0 <= v < 1,
            message="--ema_momentum must be in [0, 1)",
        ),
    )
    strength_param = "ema_momentum"
    epoch_columns = ("ema/val_data_loss", "ema/val_accuracy", "ema/val_mse", "ema/rel_distance")

    def optimizer_options(self):
        return {"use_ema": True, "ema_momentum": self.ema_momentum}

    @staticmethod
    def pairs(optimizer):
        """[(model variable, its average)], as Keras aligns them (the order of build())."""
        return framework_internals.moving_average_pairs(inner(optimizer))

    def epoch_values(self, context):
        """The validation split with the averages swapped in, then the raw weights back."""
        pairs = self.pairs(context.optimizer)
        raw = [tf.identity(w) for w, _ in pairs]
        for w, avg in pairs:
            w.assign(avg)
        # The loop's own compiled evaluation (a nested tf.function). Reads of the model's
        # variables come after the assigns above and before those below: automatic control
        # dependencies keep program order.
        metrics = context.evaluate(context.x_val, context.y_val)
        for (w, _), r in zip(pairs, raw, strict=True):
            w.assign(r)
        sq = [tf.reduce_sum(tf.square(avg - r)) for (_, avg), r in zip(pairs, raw, strict=True)]
        diff = tf.add_n(sq)
        norm = tf.add_n([tf.reduce_sum(tf.square(r)) for r in raw])
        distance = tf.sqrt(diff) / (tf.sqrt(norm) + 1e-12)
        return [metrics["data_loss"], metrics["accuracy"], metrics["mse"], distance]

    def finalize(self, model, optimizer):
        opt = inner(optimizer)
        built = framework_internals.built_variables(opt)
        if [id(v) for v in built] != [id(v) for v in model.trainable_variables]:
            raise RuntimeError("EMA: the optimizer was built on other variables than the model's")
        opt.finalize_variable_values(model.trainable_variables)
        return True  # the weights changed: the test split must be evaluated on them
