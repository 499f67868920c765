"""L1, L2 and L1+L2 penalties on kernels, with Keras's definitions (no 1/2 in L2)."""

import tensorflow as tf


def _f32(kernels):
    return [tf.cast(k, tf.float32) for k in kernels]


def l1(kernels, strength):
    """strength * sum |w| over `kernels` (in float32); zero for no kernels."""
    terms = [tf.reduce_sum(tf.abs(k)) for k in _f32(kernels)]
    return strength * tf.add_n(terms or [tf.zeros([])])


def l2(kernels, strength):
    """strength * sum w^2 over `kernels` (in float32); zero for no kernels."""
    terms = [tf.reduce_sum(tf.square(k)) for k in _f32(kernels)]
    return strength * tf.add_n(terms or [tf.zeros([])])


def l1_l2(kernels, l1_strength, l2_strength):
    return l1(kernels, l1_strength) + l2(kernels, l2_strength)
