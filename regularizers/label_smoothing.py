"""Label smoothing (Keras `CategoricalCrossentropy(label_smoothing=ε)`): targets y(1−ε) + ε/K.

The training loss sees the smoothed targets y' = y·(1 − ε) + ε/K (K classes), exactly Keras's
formula; accuracy and MSE keep the true labels. The reported train data loss is the smoothed
cross-entropy (the one optimized; it cannot fall below the entropy of y'); validation and test
losses use the clean labels, so the train/val gap includes that floor. TensorBoard:
`label_smoothing/val_confidence`, the mean largest softmax probability on the validation split
(smoothing keeps it below 1 − ε + ε/K: less over-confident predictions).
"""

import tensorflow as tf

from regularizers.base import Param, Regularizer, register

CONFIDENCE_ROWS = 4096  # the first validation rows: bounds the extra pass on large splits


@register
class LabelSmoothing(Regularizer):
    name = "label_smoothing"
    title = "Label smoothing"
    default_layers = None
    params = (
        Param(
            "label_smoothing",
            0.1,
            "Label smoothing ε: the training loss sees targets y·(1−ε) + ε/K (Keras's).",
            check=lambda v: 0 <= v < 1,
            message="--label_smoothing must be in [0, 1)",
        ),
    )
    strength_param = "label_smoothing"
    epoch_columns = ("label_smoothing/val_confidence",)

    def loss_targets(self, y):
        # As Keras computes it: a float32 ε / K, not a Python double rounded once.
        k = tf.cast(tf.shape(y)[-1], y.dtype)
        return y * (1.0 - self.label_smoothing) + tf.cast(self.label_smoothing, y.dtype) / k

    def epoch_values(self, context):
        logits = context.model(context.x_val[:CONFIDENCE_ROWS], training=False)
        probs = tf.nn.softmax(tf.cast(logits, tf.float32))
        return [tf.reduce_mean(tf.reduce_max(probs, -1))]
