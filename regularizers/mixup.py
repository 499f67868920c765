"""Mixup (Zhang et al. 2018): train on convex mixtures of pairs of examples and of their labels.

For each training batch (x, y), with one λ per batch as in the paper's reference code:

    λ ~ Beta(α, α),   π = a random permutation of the batch,
    x' = λ·x + (1 − λ)·x[π],   y' = λ·y + (1 − λ)·y[π]

and the step trains on (x', y'). Inputs of any shape (tabular rows, images) mix elementwise.
λ and π come from stateless random ops seeded with the step's own seed, so a run is
reproducible and a resumed run draws the same λ and π; λ is drawn by regularizers/beta.py
(finite for small α, XLA-compilable). Under
several replicas each pairs rows within its own slice, with the same λ. The train accuracy and
MSE are measured against the mixed targets y' (argmax: the dominant label); validation and test
use clean inputs and labels.
"""

import tensorflow as tf

from regularizers.base import Param, Regularizer, register
from regularizers.beta import beta_sample


def mix(x, y, lam, perm):
    """λ·x + (1−λ)·x[perm], and the same for y."""

    def one(t):
        lt = tf.cast(lam, t.dtype)
        return lt * t + (1.0 - lt) * tf.gather(t, perm)

    return one(x), one(y)


@register
class Mixup(Regularizer):
    name = "mixup"
    title = "Mixup"
    default_layers = None
    params = (
        Param(
            "mixup_alpha",
            0.2,
            "Mixup α: each batch trains on λ·x + (1−λ)·x[perm] (labels alike), λ ~ Beta(α, α).",
            check=lambda v: v > 0,
            message="--mixup_alpha must be a number > 0",
        ),
    )
    strength_param = "mixup_alpha"

    def transform(self, x, y, seed):
        lam_seed, perm_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        lam = beta_sample(self.mixup_alpha, lam_seed)
        # argsort of uniforms rather than StatelessShuffle, which has no XLA kernel (--xla).
        perm = tf.argsort(tf.random.stateless_uniform(tf.shape(x)[:1], perm_seed))
        return mix(x, y, lam, perm)
