"""The outer loop of a run (Orbit's Controller): epochs in compiled chunks, checkpoints,
progress, stop signals, NaN rollback and early stopping, around the compiled `Trainer.run`."""

import dataclasses
import math
import os
import time

import tensorflow as tf
from absl import logging

from cluster.preemption import StopRequest
from runs.exit_codes import EXIT_DIVERGED, EXIT_PREEMPTED
from training import optim


@dataclasses.dataclass
class Outcome:
    status: str  # finished | diverged | preempted
    exit_code: int
    details: dict


class Controller:
    def __init__(self, trainer, checkpoints, cfg, place, progress, run_dir):
        self.trainer = trainer
        self.checkpoints = checkpoints
        self.cfg = cfg
        self.place = place
        self.progress = progress
        self.rollbacks = 0
        self.train_time = 0.0
        # Progress at least every ~10% of the run: a chunk ends there or at a checkpoint.
        self.progress_every = max(1, math.ceil(cfg.epochs / 10))
        self._best = None
        stopping = trainer.early_stopping
        if stopping and place.is_chief:  # the best weights, apart from the rest
            best = tf.train.Checkpoint(weights=stopping.best_weights, epoch=stopping.best_epoch)
            directory = os.path.join(run_dir, "checkpoints", "best")
            self._best = tf.train.CheckpointManager(best, directory, max_to_keep=1)
            self._best_saved = 0

    def run(self, epoch):
        """Trains from `epoch` until the end, a stop signal, divergence or early stopping."""
        cfg, trainer = self.cfg, self.trainer
        if self._stopped_early():  # killed after stopping early: nothing left to train
            return self._early_stop_outcome()
        with StopRequest() as stop:
            while epoch < cfg.epochs:
                end = min(
                    _next_multiple(epoch, cfg.checkpoint_every),
                    _next_multiple(epoch, self.progress_every),
                    cfg.epochs,
                )
                t = time.time()
                bad_epoch = int(
                    trainer.run(tf.constant(epoch, tf.int64), tf.constant(end, tf.int64))
                )
                self.train_time += time.time() - t
                if bad_epoch >= 0:
                    if cfg.on_nan == "rollback" and self.rollbacks < cfg.max_rollbacks:
                        epoch = self._roll_back(bad_epoch)
                        continue
                    return Outcome("diverged", EXIT_DIVERGED, {"diverged_epoch": bad_epoch + 1})
                epoch = int(trainer.epoch.numpy())  # early stopping may end a chunk sooner
                stopped = self._stopped_early()
                if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs or stopped:
                    self.checkpoints.save()
                self._save_best()
                if epoch % self.progress_every == 0 or epoch == cfg.epochs or stopped:
                    self.progress.update(epoch, trainer.epoch_metrics(epoch - 1))
                if stopped:
                    return self._early_stop_outcome()
                if self._any_worker(stop.received is not None) and epoch < cfg.epochs:
                    if epoch % cfg.checkpoint_every:
                        self.checkpoints.save()
                    logging.warning(
                        "%s received: checkpoint saved at epoch %d; rerun the same command to "
                        "resume",
                        stop.received or "stop request",
                        epoch,
                    )
                    return Outcome("preempted", EXIT_PREEMPTED, {"signal": stop.received})
        return Outcome("finished", 0, {})

    def _stopped_early(self):
        return self.trainer.early_stopping is not None and self.trainer.early_stopping.stopped()

    def _early_stop_outcome(self):
        stopping = self.trainer.early_stopping
        stopped = int(stopping.stopped_epoch.numpy())
        best = int(stopping.best_epoch.numpy())
        logging.info(
            "early stopping at epoch %d: no improvement of %s for %d epochs; best epoch %d",
            stopped,
            self.cfg.early_stopping_monitor,
            self.cfg.early_stopping_patience,
            best,
        )
        return Outcome("finished", 0, {"stopped_epoch": stopped})

    def _save_best(self):
        if self._best is None:
            return
        best = int(self.trainer.early_stopping.best_epoch.numpy())
        if best != self._best_saved:
            self._best.save(checkpoint_number=best)
            self._best_saved = best

    def _roll_back(self, bad_epoch):
        self.rollbacks += 1
        epoch = self.checkpoints.restore_latest()
        lr = optim.scale_learning_rate(self.trainer.optimizer, self.cfg.rollback_lr_factor)
        logging.warning(
            "loss became NaN/inf at epoch %d: rolled back to epoch %d, learning rate now %g "
            "(rollback %d of %d)",
            bad_epoch + 1,
            epoch,
            lr,
            self.rollbacks,
            self.cfg.max_rollbacks,
        )
        return epoch

    def _any_worker(self, flag):
        """True when any worker received a stop signal (all workers must stop together)."""
        if self.place.num_workers == 1:
            return flag
        strategy = self.place.strategy
        value = strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
        return bool(strategy.reduce("SUM", value, axis=None).numpy() > 0)


def _next_multiple(epoch, every):
    return (epoch // every + 1) * every
