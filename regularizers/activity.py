"""Activity regularization (Keras ActivityRegularization): L1/L2 of hidden activations per example.

On each placed hidden layer's output a (after its activation, before BatchNorm, pooling and
Dropout: where a Keras `ActivityRegularization` layer after `Dense(activation=...)` sits), over
a batch of B examples:

    penalty = (l1 · Σ|a| + l2 · Σa²) / B

the `keras.regularizers.L1L2(l1, l2)` of the output divided by the batch size, as Keras's
Layer.__call__ does for every activity regularizer. Computed in float32 (under mixed precision
Keras would use the activation's dtype). Each replica uses its local batch; the loop divides the
penalty by the number of replicas (tf.nn.scale_regularization_loss) and sums the gradients, so
with equal local batches it is the global batch's mean. The history's value is that of the
validation pass (B = validation rows).

TensorBoard: activity/<layer>/{mean_abs, mean_square}: mean |a| and a² per unit and example on
the probe batch.
"""

import keras
import tensorflow as tf

from regularizers.base import Regularizer, nonnegative, register


def activity_penalty(activations, l1, l2):
    """Σ over tensors of keras.regularizers.L1L2(l1, l2)(a) / batch size (float32)."""
    regularizer = keras.regularizers.L1L2(l1=l1, l2=l2)
    terms = []
    for a in activations:
        a = tf.cast(a, tf.float32)
        batch = tf.cast(tf.shape(a)[0], tf.float32)
        terms.append(tf.math.divide_no_nan(regularizer(a), batch))
    return tf.add_n(terms or [tf.zeros([])])


@register
class Activity(Regularizer):
    name = "activity"
    title = "Activity"
    params = (
        nonnegative(
            "activity_l1",
            0.01,
            "Activity L1 factor: penalty l1·Σ|a| / batch size on the placed hidden layers' "
            "outputs (Keras ActivityRegularization).",
        ),
        nonnegative(
            "activity_l2",
            0.0,
            "Activity L2 factor: penalty l2·Σa² / batch size (Keras ActivityRegularization).",
        ),
    )
    uses_activations = True

    def describe(self):
        return f"Activity L1 {self.activity_l1:g} L2 {self.activity_l2:g}"

    def name_part(self):
        return f"activity-l1-{self.activity_l1:g}-l2-{self.activity_l2:g}"

    def _outputs(self, model, activations):
        return [activations[model.blocks[i].core.name] for i in self.layers]

    def penalty(self, model, activations):
        outputs = self._outputs(model, activations)
        return activity_penalty(outputs, self.activity_l1, self.activity_l2)

    def layer_stats(self, model, activations):
        if not self.layers:
            return []
        outputs = [tf.cast(a, tf.float32) for a in self._outputs(model, activations)]
        stats = {
            "mean_abs": tf.stack([tf.reduce_mean(tf.abs(a)) for a in outputs]),
            "mean_square": tf.stack([tf.reduce_mean(tf.square(a)) for a in outputs]),
        }
        return [("activity", stats, [model.blocks[i].core.name for i in self.layers])]
