"""L1, L2 and L1+L2 penalties on kernels, with Keras's definitions (no 1/2 in L2)."""

import tensorflow as tf


def l1(kernels, strength):
    """strength * sum |w| over `kernels`; zero for no kernels."""
    return strength * tf.add_n([tf.reduce_sum(tf.abs(k)) for k in kernels] or [tf.zeros([])])


def l2(kernels, strength):
    """strength * sum w^2 over `kernels`; zero for no kernels."""
    return strength * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels] or [tf.zeros([])])


def l1_l2(kernels, l1_strength, l2_strength):
    return l1(kernels, l1_strength) + l2(kernels, l2_strength)


def penalty_terms(model, l1_strength, l2_strength):
    """{"l1": ..., "l2": ...} for the kernels the model's Placement regularizes (float32)."""

    def f32(ks):
        return [tf.cast(k, tf.float32) for k in ks]

    return {
        "l1": l1(f32(model.penalized_kernels("l1")), l1_strength),
        "l2": l2(f32(model.penalized_kernels("l2")), l2_strength),
    }
