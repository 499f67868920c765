"""Stateless Beta(α, α) draws for the batch-mixing regularizers (mixup, cutmix).

λ = Ga / (Ga + Gb) for two Gamma(α) draws, each Gamma(α + 1)·U^(1/α), combined in log space
(λ = sigmoid(log Ga − log Gb)) so that small α, where Gamma(α) underflows to 0, stays finite;
Gamma(α + 1) is drawn by Marsaglia and Tsang's method, which XLA compiles (--xla; TF's
stateless_gamma has no XLA kernel).
"""

import numpy as np
import tensorflow as tf

TINY = float(np.finfo(np.float32).tiny)  # uniforms in [TINY, 1): log(0) would give NaNs
CANDIDATES = 16  # Marsaglia-Tsang proposals per draw; each is accepted with p > 0.95


def gamma_sample(shape, n, seed):
    """n Gamma(shape) draws (shape >= 1), float32, by Marsaglia & Tsang's method with a fixed
    number of proposals, the first accepted kept: XLA-compilable, unlike stateless_gamma (the
    chance that all 16 are rejected is below 1e-20; the last one is then used)."""
    normal_seed, uniform_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    d = shape - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    z = tf.random.stateless_normal([n, CANDIDATES], normal_seed)
    u = tf.random.stateless_uniform([n, CANDIDATES], uniform_seed, minval=TINY, maxval=1.0)
    v = (1.0 + c * z) ** 3
    safe_v = tf.maximum(v, TINY)
    accept = (v > 0) & (tf.math.log(u) < 0.5 * z * z + d - d * safe_v + d * tf.math.log(safe_v))
    accept = tf.concat([accept[:, :-1], tf.ones([n, 1], tf.bool)], 1)
    first = tf.argmax(tf.cast(accept, tf.int32), axis=1, output_type=tf.int32)
    return d * tf.gather(safe_v, first, batch_dims=1)


def beta_sample(alpha, seed):
    """One λ ~ Beta(alpha, alpha) (float32 scalar) from a stateless [2] seed: Ga / (Ga + Gb)
    with Gamma(alpha) = Gamma(alpha + 1)·U^(1/alpha), combined in log space."""
    gamma_seed, uniform_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    g = gamma_sample(alpha + 1.0, 2, gamma_seed)
    u = tf.random.stateless_uniform([2], uniform_seed, minval=TINY, maxval=1.0)
    log_g = tf.math.log(g) + tf.math.log(u) / alpha  # log of two Gamma(alpha) draws
    return tf.sigmoid(log_g[0] - log_g[1])
