"""Group lasso on hidden units (Scardapane et al. 2017), by its proximal update: dead units.

One group per unit of a placed hidden layer: the unit's OUTGOING weights, i.e. row j of the
next layer's kernel (the output kernel after the last hidden layer). For a conv channel the
group is every weight that reads the channel: kernel[:, :, j, :] of a next conv layer, or the
rows j, j+C, j+2C, ... of a Dense kernel after Flatten (channels-last: one row per position).
With |g| the group's size, the penalty is

    Ω(w) = λ · Σ_g √|g| · ‖w_g‖₂

and after each optimizer step every group is block-soft-thresholded, the prox of lr·Ω:

    w_g ← w_g · max(1 − lr·λ·√|g| / ‖w_g‖₂, 0)

which sets whole groups to exactly zero: a unit whose outgoing weights are zero no longer
affects the output and can be removed (prune.py). This is the proximal-gradient method: the
optimizer steps on the data loss (and any other penalty) and the prox REPLACES Ω's gradient.
Ω is therefore not added to the loss (differentiating it too would shrink twice and its
gradient, undefined at zero, would push dead groups off zero again); its value is reported as
the history column and TensorBoard scalar `group_lasso/penalty`. Under momentum, Adam or
RMSprop, lr·λ is not the exact prox of the preconditioned step (as for prox_l1).

TensorBoard: group_lasso/<layer>/{live_units, live_fraction}: units whose group norm is > 0.
"""

import math

import tensorflow as tf

from regularizers.base import Regularizer, nonnegative, register


def outgoing_kernel(model, index):
    """The kernel that reads hidden layer `index`'s units."""
    blocks = model.blocks
    return blocks[index + 1].core.kernel if index + 1 < len(blocks) else model.out.kernel


def units(model, index):
    """Units (features or channels) of hidden layer `index`."""
    return int(model.blocks[index].core.kernel.shape[-1])


def grouped(kernel, num_units):
    """The kernel as [positions, units, outputs]: group j is [:, j, :]. A Dense kernel has one
    position; a Dense kernel after Flatten, H·W; a conv kernel, kh·kw."""
    return tf.reshape(kernel, [-1, num_units, kernel.shape[-1]])


def group_norms(kernel, num_units):
    """‖w_g‖₂ of each unit's group, [num_units] float32."""
    g = tf.cast(grouped(kernel, num_units), tf.float32)
    return tf.sqrt(tf.reduce_sum(tf.square(g), axis=[0, 2]))


def group_size(kernel, num_units):
    return math.prod(kernel.shape) // num_units


def block_soft_threshold(kernel, num_units, threshold):
    """Each group scaled by max(1 − threshold·√|g| / ‖w_g‖, 0) (zero groups stay zero)."""
    norms = group_norms(kernel, num_units)
    shrink = threshold * group_size(kernel, num_units) ** 0.5
    scale = tf.maximum(1.0 - shrink / tf.maximum(norms, 1e-30), 0.0)
    scaled = grouped(kernel, num_units) * tf.cast(tf.reshape(scale, [1, -1, 1]), kernel.dtype)
    return tf.reshape(scaled, kernel.shape)


def penalty(kernels_and_units, strength):
    """λ·Σ_g √|g|·‖w_g‖₂ over [(outgoing kernel, units)] (float32)."""
    terms = [
        group_size(k, n) ** 0.5 * tf.reduce_sum(group_norms(k, n)) for k, n in kernels_and_units
    ]
    return strength * tf.add_n(terms or [tf.zeros([])])


@register
class GroupLasso(Regularizer):
    name = "group_lasso"
    title = "Group lasso"
    params = (
        nonnegative(
            "group_lasso",
            0.01,
            "Group lasso strength λ on the placed hidden layers' units (group: a unit's "
            "outgoing weights): after each step w_g ← w_g·max(1 − lr·λ·√|g|/‖w_g‖, 0).",
        ),
    )
    strength_param = "group_lasso"
    epoch_columns = ("group_lasso/penalty",)

    def _groups(self, model):
        return [(outgoing_kernel(model, i), units(model, i)) for i in self.layers]

    def after_step(self, model, learning_rate):
        threshold = learning_rate * self.group_lasso
        for kernel, n in self._groups(model):
            kernel.assign(block_soft_threshold(kernel, n, threshold))

    def epoch_values(self, context):
        return [penalty(self._groups(context.model), self.group_lasso)]

    def layer_stats(self, model, activations):
        if not self.layers:
            return []
        norms = [group_norms(k, n) for k, n in self._groups(model)]
        live = tf.stack([tf.reduce_sum(tf.cast(g > 0, tf.float32)) for g in norms])
        sizes = tf.constant([float(units(model, i)) for i in self.layers])
        names = [model.blocks[i].core.name for i in self.layers]
        return [("group_lasso", {"live_units": live, "live_fraction": live / sizes}, names)]
