"""Early stopping's state: patience, best value and epoch, and the best weights, all variables.

Everything lives in variables the run checkpoints, so a resumed run stops at the same epoch and
keeps the same best weights. `update` runs inside the compiled loop once per finite epoch.
"""

import tensorflow as tf


class EarlyStopping:
    """Patience on a validation metric (--early_stopping_monitor), with the best weights kept."""

    def __init__(self, cfg, model, strategy):
        self.monitor = cfg.early_stopping_monitor
        self.patience = cfg.early_stopping_patience
        self.min_delta = cfg.early_stopping_min_delta
        self.model = model
        self.best_value = tf.Variable(float("inf"), trainable=False, name="es_best")
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="es_epoch")
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False, name="es_wait")
        self.stopped_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="es_stop")
        with strategy.scope():
            self.best_weights = [
                tf.Variable(w, trainable=False, name="best") for w in model.weights
            ]

    def monitored(self, row):
        """The value to minimize, from an epoch's history row {column: scalar}."""
        if self.monitor == "val_loss":
            return row["val_data_loss"]
        return -row["val_accuracy"]

    def update(self, epoch, row):
        """Updates the patience state with epoch `epoch`'s (0-based) row; True when patience
        ran out. Graph code: called in the compiled loop."""
        value = self.monitored(row)
        improved = value < self.best_value - self.min_delta
        pairs = list(zip(self.best_weights, self.model.weights, strict=True))
        tf.cond(improved, lambda: tf.group([b.assign(w) for b, w in pairs]), tf.no_op)
        wait = tf.where(improved, tf.constant(0, tf.int64), self.wait + 1)
        self.best_value.assign(tf.where(improved, value, self.best_value))
        self.best_epoch.assign(tf.where(improved, epoch + 1, self.best_epoch))
        self.wait.assign(wait)
        stop = wait >= self.patience
        self.stopped_epoch.assign(tf.where(stop, epoch + 1, tf.constant(0, tf.int64)))
        return stop

    def stopped(self):
        """Whether the run has stopped early (eager)."""
        return int(self.stopped_epoch.numpy()) > 0

    def restore_best_weights(self):
        """The best weights back into the model; returns their epoch (1-based)."""
        for w, b in zip(self.model.weights, self.best_weights, strict=True):
            w.assign(b)
        return int(self.best_epoch.numpy())

    def checkpoint_items(self):
        """The state a checkpoint carries, under the keys checkpoints have always used."""
        return {
            "early_stopping": [self.best_value, self.best_epoch, self.wait],
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }
