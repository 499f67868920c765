"""Statistics of weights, activations and BatchNorm layers, as tensors (computed on device).

The `*_many` functions take all layers at once and return one [layers] vector per statistic.
They run inside the compiled training loop, where every op costs tracing and graph-optimization
time once per process and executor time per call, so they are written for few ops: constants
shared, per-layer results stacked before any arithmetic on them.
"""

import numpy as np
import tensorflow as tf


def weight_stats(w, threshold):
    """L1/L2 norms, max |w|, fraction of |w| < threshold, fraction exactly zero (scalars)."""
    return {k: v[0] for k, v in weight_stats_many([w], threshold).items()}


def weight_stats_many(weights, threshold):
    """weight_stats of each tensor, as {stat: [len(weights)] vector}."""
    weights = [tf.cast(w, tf.float32) for w in weights]
    threshold = tf.constant(threshold, tf.float32)
    axes = _Axes()
    per = []
    for w in weights:
        a = tf.abs(w)
        ax = axes(w)
        per.append(
            [
                tf.reduce_sum(a, ax),
                tf.nn.l2_loss(w),  # sum of squares / 2: one fused pass
                tf.reduce_max(a, ax),
                tf.reduce_sum(tf.cast(a < threshold, tf.float32), ax),
                tf.reduce_sum(tf.sign(a), ax),  # sign(|w|) is 0 or 1: the nonzero count
            ]
        )
    l1, half_sq, max_abs, below, nonzero = tf.unstack(tf.stack(per, axis=1))
    sizes = np.array([w.shape.num_elements() for w in weights], np.float32)
    return {
        "l1_norm": l1,
        "l2_norm": tf.sqrt(2.0 * half_sq),
        "max_abs": max_abs,
        "sparsity": below / sizes,
        "zero_fraction": 1.0 - nonzero / sizes,
    }


def l2_norms(tensors):
    """The L2 norm of each tensor, as a [len(tensors)] vector."""
    return tf.sqrt(2.0 * tf.stack([tf.nn.l2_loss(tf.cast(t, tf.float32)) for t in tensors]))


def activation_stats(a):
    """Mean, std, fraction saturated (|a| > 0.99, for tanh) and fraction of dead units (scalars).

    A unit (a feature, or a channel of a conv map) is dead when it outputs exactly zero for every
    example of the batch, as a ReLU unit stuck in its flat region does.
    """
    return {k: v[0] for k, v in activation_stats_many([a]).items()}


def activation_stats_many(acts):
    """activation_stats of each tensor, as {stat: [len(acts)] vector}."""
    zero, saturation, rows, both = (tf.constant(c) for c in (0.0, 0.99, 0, [0, 1]))
    per = []
    for a in acts:
        # [examples (x pixels), units]: a unit is a feature, or a channel of a conv map.
        units = tf.reshape(tf.cast(a, tf.float32), [-1, a.shape[-1]])
        mean = tf.reduce_mean(units, both)
        alive = tf.reduce_any(tf.not_equal(units, zero), rows)
        per.append(
            [
                mean,
                tf.reduce_mean(tf.square(units - mean), both),
                tf.reduce_mean(tf.cast(tf.abs(units) > saturation, tf.float32), both),
                tf.reduce_mean(tf.cast(alive, tf.float32), rows),
            ]
        )
    mean, var, saturated, alive = tf.unstack(tf.stack(per, axis=1))
    return {"mean": mean, "std": tf.sqrt(var), "saturated": saturated, "dead": 1.0 - alive}


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


def histograms_many(tensors, bins=30):
    """Equal-width histograms (min to max) of each tensor.

    Returns ([n, 5] min/max/num/sum/sum_squares, [n, bins] right bucket edges, [n, bins] counts),
    float64, the fields of TensorBoard's HistogramProto. Computed in float32 on one vector of all
    elements (counts stay exact up to 2**24 values per tensor).
    """
    n = len(tensors)
    minus_one = tf.constant([-1])
    vectors = [tf.cast(t, tf.float32) for t in tensors]
    flat = tf.concat([v if v.shape.rank == 1 else tf.reshape(v, minus_one) for v in vectors], 0)
    # Each element's tensor index, computed at run time: as a graph constant it would cost
    # 4 bytes per element in the graph.
    ends = np.cumsum([t.shape.num_elements() for t in tensors]).astype(np.int32)
    ids = tf.searchsorted(ends, tf.range(ends[-1]), side="right")
    lo = tf.math.segment_min(flat, ids)
    hi = tf.maximum(tf.math.segment_max(flat, ids), lo + 1e-6)  # constant tensor: one thin bucket
    element_lo, element_scale = tf.unstack(tf.gather(tf.stack([lo, bins / (hi - lo)]), ids, axis=1))
    # (flat - lo) >= 0, so the cast truncates like floor; the max lands in the last bucket.
    bucket = tf.minimum(tf.cast((flat - element_lo) * element_scale, tf.int32), bins - 1)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(flat), ids * bins + bucket, n * bins)
    sums = [tf.math.segment_sum(v, ids) for v in (flat, tf.square(flat))]  # 2x faster than [N, 2]
    sizes = np.diff(ends, prepend=0).astype(np.float32)
    stats = tf.stack([lo, hi, sizes, *sums], 1)
    column = tf.constant([n, 1])
    fractions = np.arange(1, bins + 1, dtype=np.float32) / bins
    edges = tf.reshape(lo, column) + tf.reshape(hi - lo, column) * fractions
    return (
        tf.cast(stats, tf.float64),
        tf.cast(edges, tf.float64),
        tf.cast(tf.reshape(counts, [n, bins]), tf.float64),
    )


class _Axes:
    """All axes of a tensor as one shared constant per rank (reduce ops make one per call)."""

    def __init__(self):
        self._by_rank = {}

    def __call__(self, t):
        rank = t.shape.rank
        if rank not in self._by_rank:
            self._by_rank[rank] = tf.constant(np.arange(rank, dtype=np.int32))
        return self._by_rank[rank]
