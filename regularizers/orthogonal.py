"""Orthogonality penalty (Keras OrthogonalRegularizer): factor × mean |cosine| of rows/columns.

For each placed kernel W (a Dense kernel [inputs, units]; a Conv2D kernel reshaped to
[kh·kw·inputs, filters], since Keras's regularizer takes only rank-2 kernels), with the rows
(mode=rows) or the columns (mode=columns) L2-normalized to v_1..v_n:

    penalty = factor · Σ_{i<j} |v_i · v_j| / (n(n − 1)/2)

i.e. factor times the mean absolute cosine over distinct pairs, exactly
`keras.regularizers.OrthogonalRegularizer(factor, mode)(W)`. A kernel with a single row (column)
has no pairs and adds 0 (Keras would divide by zero pairs). Added to the loss like L1/L2.

TensorBoard: orthogonal/<layer>/mean_abs_cosine (the penalty of that layer / factor).
"""

import keras
import tensorflow as tf

from regularizers.base import Param, Regularizer, nonnegative, register


def as_matrix(kernel):
    """A Dense kernel as is; a conv kernel as [kh·kw·inputs, filters] (one column per filter)."""
    kernel = tf.convert_to_tensor(kernel)
    return kernel if len(kernel.shape) == 2 else tf.reshape(kernel, [-1, kernel.shape[-1]])


def orthogonal(kernel, factor, mode):
    """keras.regularizers.OrthogonalRegularizer(factor, mode) of the kernel as a matrix (float32);
    0 for fewer than two rows (columns)."""
    w = tf.cast(as_matrix(kernel), tf.float32)
    if w.shape[0 if mode == "rows" else 1] < 2:
        return tf.zeros([])
    return keras.regularizers.OrthogonalRegularizer(factor=factor, mode=mode)(w)


def penalty(kernels, factor, mode):
    """The sum of `orthogonal` over `kernels`."""
    return tf.add_n([orthogonal(k, factor, mode) for k in kernels] or [tf.zeros([])])


@register
class Orthogonal(Regularizer):
    name = "orthogonal"
    title = "Orthogonal"
    params = (
        nonnegative(
            "orthogonal",
            0.01,
            "Orthogonal regularizer factor (Keras OrthogonalRegularizer): factor × mean "
            "|cosine| between distinct rows (columns) of each placed kernel.",
        ),
        Param(
            "orthogonal_mode",
            "rows",
            "rows: make a kernel's rows (one per input) orthogonal; columns: its columns (one "
            "per unit), as Keras's mode.",
            kind="enum",
            choices=("rows", "columns"),
            message="--orthogonal_mode must be rows or columns",
        ),
    )
    strength_param = "orthogonal"

    def penalty(self, model, activations):
        return penalty(model.hidden_kernels(self.layers), self.orthogonal, self.orthogonal_mode)

    def layer_stats(self, model, activations):
        if not self.layers:
            return []
        kernels = model.hidden_kernels(self.layers)
        values = tf.stack([orthogonal(k, 1.0, self.orthogonal_mode) for k in kernels])
        names = [model.blocks[i].core.name for i in self.layers]
        return [("orthogonal", {"mean_abs_cosine": values}, names)]
