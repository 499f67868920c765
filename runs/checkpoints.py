"""Checkpoints holding everything an identical continuation needs.

Model and optimizer (with its iteration count), the epoch counter, the metric history, and the
Dropout layers' SeedGenerator states, which tf.train.Checkpoint does not track by itself in
Keras 3. Input order needs no state: it is a function of (seed, epoch).
"""

import os
import tempfile

import tensorflow as tf
from absl import logging


class _DropSaverChatter:
    """TF logs "Sharding callback duration" at INFO on every save; batch logs don't need it."""

    def filter(self, record):
        return not str(record.msg).startswith("Sharding callback duration")


logging.get_absl_logger().addFilter(_DropSaverChatter())


class Checkpoints:
    def __init__(self, run_dir, model, optimizer, trainer, *, keep, is_chief):
        seed_states = [v for v in model.variables if "seed_generator" in v.path]
        self.checkpoint = tf.train.Checkpoint(
            model=model,
            optimizer=optimizer,
            epoch=trainer.epoch,
            history=trainer.history,
            seed_states=seed_states,
        )
        self.directory = os.path.join(run_dir, "checkpoints")
        # Non-chief workers of a multi-worker run save too (they must), but into a scratch dir.
        self._scratch = None if is_chief else tempfile.TemporaryDirectory(prefix="ckpt-worker-")
        target = self.directory if is_chief else self._scratch.name
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, target, max_to_keep=keep, step_counter=trainer.epoch
        )
        self.epoch = trainer.epoch

    def latest(self):
        return tf.train.latest_checkpoint(self.directory)

    def restore_latest(self):
        """Restores the newest checkpoint; returns its epoch, or None when there is none."""
        path = self.latest()
        if path is None:
            return None
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return int(self.epoch.numpy())

    def save(self):
        return self.manager.save(checkpoint_number=int(self.epoch.numpy()))
