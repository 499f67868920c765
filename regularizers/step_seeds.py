"""Keras random layers driven by the train step's stateless seed, so draws resume bitwise.

Keras's image layers draw through a `SeedGenerator` whose state variable advances on every draw
(`next()` returns the state, then adds [0, 1]). The stand-in used here has no variable: its
k-th draw is `base + [0, k]` (framework_internals.stateless_seed_generator), `base` a function
of the step's seed, the regularizer and the replica. A Keras layer whose generator state equals
`base` draws exactly the same numbers (the parity tests rely on that), and nothing needs
checkpointing: a resumed run recomputes `base`.
"""

import tensorflow as tf

import framework_internals


def base_seed(step_seed, salt):
    """The [2] int64 seed of one regularizer (`salt`) on this replica in the step `step_seed`."""
    seed = tf.random.experimental.stateless_fold_in(step_seed, salt)
    ctx = tf.distribute.get_replica_context()
    replica = 0 if ctx is None else ctx.replica_id_in_sync_group
    return tf.cast(tf.random.experimental.stateless_fold_in(seed, replica), tf.int64)


def apply(layer, images, seed):
    """`layer`'s training-mode transformation of `images`, its random draws from `seed`."""
    seeds = framework_internals.stateless_seed_generator(seed)
    transformation = layer.get_random_transformation(images, training=True, seed=seeds)
    return layer.transform_images(images, transformation, training=True)
