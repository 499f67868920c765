"""Statistics of weights, activations and BatchNorm layers, as tensors (computed on device)."""

import numpy as np
import tensorflow as tf


def weight_stats(w, threshold):
    """L1/L2 norms, max |w|, fraction of |w| < threshold, fraction exactly zero."""
    w = tf.cast(w, tf.float32)
    a = tf.abs(w)
    return {
        "l1_norm": tf.reduce_sum(a),
        "l2_norm": l2_norm(w),
        "max_abs": tf.reduce_max(a),
        "sparsity": tf.reduce_mean(tf.cast(a < threshold, tf.float32)),
        "zero_fraction": 1.0 - tf.reduce_mean(tf.sign(a)),  # sign(|w|): 0 or 1, one pass fewer
    }


def l2_norm(t):
    """L2 norm; l2_loss (sum of squares / 2) is one fused pass, tf.norm three ops."""
    return tf.sqrt(2.0 * tf.nn.l2_loss(tf.cast(t, tf.float32)))


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


# ---- Many tensors at once, for the compiled loop ----------------------------------------------


def many(fn, tensors, *args):
    """fn(t, *args) for each tensor, stacked: {stat: [len(tensors)] vector}.

    Per-tensor reductions (multi-threaded on CPU) run 3x faster here than segment ops over the
    concatenation, for small activations as for large weights.
    """
    per = [fn(t, *args) for t in tensors]
    return {k: tf.stack([p[k] for p in per]) for k in per[0]}


def histograms_many(tensors, bins=30):
    """Equal-width histograms (min to max) of each tensor.

    Returns ([n, 5] min/max/num/sum/sum_squares, [n, bins] right bucket edges, [n, bins] counts),
    float64, the fields of TensorBoard's HistogramProto. Computed in float32 (half the memory
    traffic of float64; counts stay exact up to 2**24 values per tensor).
    """
    # One float32 vector (a cast only for bfloat16 activations under mixed precision) and each
    # element's tensor index: a dozen ops whatever the number of tensors, which traces and
    # optimizes faster than per-tensor histograms (their faster run time matters less here).
    flat = tf.concat([tf.reshape(tf.cast(t, tf.float32), [-1]) for t in tensors], 0)
    sizes = [t.shape.num_elements() for t in tensors]
    # Built at run time: as a constant it would put 4 bytes per element into the graph.
    ids = tf.repeat(tf.range(len(tensors)), sizes)
    n = len(tensors)
    lo = tf.math.segment_min(flat, ids)
    hi = tf.maximum(tf.math.segment_max(flat, ids), lo + 1e-6)  # constant tensor: one thin bucket
    scale = tf.gather(bins / (hi - lo), ids)
    bucket = tf.clip_by_value(
        tf.cast((flat - tf.gather(lo, ids)) * scale, tf.int32), 0, bins - 1
    )  # truncation is floor here: the difference is >= 0
    counts = tf.math.unsorted_segment_sum(tf.ones_like(flat), ids * bins + bucket, n * bins)
    fractions = np.arange(1, bins + 1, dtype=np.float32) / bins
    sums = tf.math.segment_sum(tf.stack([flat, tf.square(flat)], 1), ids)
    stats = tf.concat([tf.stack([lo, hi, np.array(sizes, np.float32)], 1), sums], 1)
    edges = lo[:, None] + (hi - lo)[:, None] * fractions[None, :]
    return (
        tf.cast(stats, tf.float64),
        tf.cast(edges, tf.float64),
        tf.cast(tf.reshape(counts, [n, bins]), tf.float64),
    )
