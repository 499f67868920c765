"""One compiled training loop reused by the next run of the same structure in a process.

Tracing and optimizing the loop's graph costs about as much as the tutorial's 350 epochs, and a
sweep worker trains the seeds of a variant one after another. The graph holds no value of a run:
its data, seed and every piece of state are variables. So a run whose flags differ from the
previous run's only in options.PER_RUN (flags the graph does not read, whose records say
per_run=True: the seed is a variable, the rest is outside the loop) builds its model, optimizer
and loop state exactly as a standalone `train.py` does, then assigns them into the previous
run's Trainer and trains with its compiled loop: the same graph on the same values, hence the
same numbers (tested bitwise in
tests/test_sweep.py; the pieces in tests/test_reuse.py).

Off unless enable() was called (sweeps/worker.py does): a standalone run has nothing to reuse.
"""

import json

from absl import logging

import framework_internals

_enabled = False
_last = None  # (structure key, Trainer) of the previous run


def enable():
    global _enabled
    _enabled = True


def set_random_seed(seed):
    """keras.utils.set_random_seed(seed). With reuse on, TensorFlow's kernel cache survives it:
    tf.random.set_seed clears that cache, and a compiled loop's next call then instantiates and
    optimizes its graph anew (~0.25 s per run, measured). The cache's seeded state is that of
    stateful random kernels, which no run uses: its random numbers are stateless ops and Keras
    SeedGenerator variables, all seeded from here."""
    import keras

    if not _enabled:
        keras.utils.set_random_seed(seed)
        return
    with framework_internals.kernel_cache_kept():
        keras.utils.set_random_seed(seed)


def structure(cfg):
    """What must be equal for two runs to share a compiled loop: every flag but PER_RUN."""
    import options

    per_run = options.PER_RUN
    return json.dumps({k: v for k, v in cfg.values.items() if k not in per_run}, sort_keys=True)


def begin(cfg):
    """Called before a run seeds and builds anything. A run of another structure starts as a new
    process would, with Keras's session cleared (layer names, global seed generator). Python's
    own collector frees the old loop: a full gc.collect() here cost 0.13 s a run."""
    global _last
    if _enabled and _last is not None and _last[0] != structure(cfg):
        import keras

        _last = None
        keras.backend.clear_session(free_memory=False)


def trainer(fresh, place):
    """The Trainer for `fresh`'s run: the previous run's, continuing as `fresh` when their
    structures match, else `fresh` itself (kept for the next run)."""
    global _last
    if not _enabled or place.num_workers != 1:
        return fresh
    key = structure(fresh.cfg)
    if _last is not None and _last[0] == key and _last[1].can_continue_as(fresh):
        logging.info("compiled loop: the previous run's (same structure), no tracing")
        return _last[1].continue_as(fresh)
    _last = (key, fresh)
    return fresh
