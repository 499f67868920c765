"""Statistics of weights, activations and BatchNorm layers, as tensors (computed on device)."""

import tensorflow as tf

WEIGHT_STATS = ("l1_norm", "l2_norm", "max_abs", "sparsity", "zero_fraction")
ACTIVATION_STATS = ("mean", "std", "saturated", "dead")
BATCHNORM_STATS = ("mean_gap", "var_gap")


def weight_stats(w, threshold):
    """L1/L2 norms, max |w|, fraction of |w| < threshold, fraction exactly zero."""
    w = tf.cast(w, tf.float32)
    a = tf.abs(w)
    return {
        "l1_norm": tf.reduce_sum(a),
        "l2_norm": tf.norm(w),
        "max_abs": tf.reduce_max(a),
        "sparsity": tf.reduce_mean(tf.cast(a < threshold, tf.float32)),
        "zero_fraction": tf.reduce_mean(tf.cast(tf.equal(w, 0.0), tf.float32)),
    }


def activation_stats(a):
    """Mean, std, fraction saturated (|a| > 0.99, for tanh) and fraction of dead units.

    A unit (a feature, or a channel of a conv map) is dead when it outputs exactly zero for every
    example of the batch, as a ReLU unit stuck in its flat region does.
    """
    a = tf.cast(a, tf.float32)
    per_unit = tf.reshape(a, [-1, tf.shape(a)[-1]])
    alive = tf.reduce_any(tf.not_equal(per_unit, 0.0), axis=0)
    return {
        "mean": tf.reduce_mean(a),
        "std": tf.math.reduce_std(a),
        "saturated": tf.reduce_mean(tf.cast(tf.abs(a) > 0.99, tf.float32)),
        "dead": 1.0 - tf.reduce_mean(tf.cast(alive, tf.float32)),
    }


def batchnorm_gap(a, bn):
    """How far BatchNorm's moving mean/variance are from the batch statistics of input `a`.

    In inference BN uses the moving averages; a large gap means eval-mode BN normalizes with
    statistics the network was not trained with.
    """
    a = tf.cast(a, tf.float32)
    axes = list(range(len(a.shape) - 1))
    mean, var = tf.nn.moments(a, axes=axes)
    moving_mean = tf.cast(bn.moving_mean, tf.float32)
    moving_var = tf.cast(bn.moving_variance, tf.float32)
    return {
        "mean_gap": tf.reduce_mean(tf.abs(mean - moving_mean)),
        "var_gap": tf.reduce_mean(tf.abs(var - moving_var)),
    }
