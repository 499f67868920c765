"""Trains one regularization variant of the tutorial's study with our own compiled loop.

    python train.py --reg=l1 --all_layers
    python train.py --flagfile=configs/model8.cfg --seed=3

Reads top to bottom: flags -> devices -> data -> model/optimizer -> run directory -> checkpoint
restore -> epochs in compiled chunks (checkpoint, progress, signals, NaN guard) -> metrics.json.
Exit codes are in runs/exit_codes.py (BUILD.md explains them).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out of logs

import sys  # noqa: E402
import time  # noqa: E402

from absl import flags, logging  # noqa: E402

import cli  # noqa: E402
import options  # noqa: E402
from runs.exit_codes import EXIT_DIVERGED, EXIT_PREEMPTED  # noqa: E402

options.define_flags()
flags.adopt_module_key_flags(options)  # so that --help lists them
FLAGS = flags.FLAGS


def train(cfg):
    """Runs the whole job for `cfg`; returns the process exit code."""
    from cluster.tf_runtime import quiet_startup

    with quiet_startup():
        import tensorflow as tf

        from cluster import devices

        place = devices.configure(cfg)  # before anything else uses TF: it fixes the device list
    import keras

    import data
    import models
    from cluster.preemption import StopRequest
    from inspection.summaries import Writers, write_final, write_run_info
    from runs import metrics as run_metrics
    from runs import rundir
    from runs.checkpoints import Checkpoints
    from runs.progress import Progress
    from training import optim
    from training.loop import Trainer

    start_time = time.time()
    run_name = cfg.run_name or options.default_run_name(cfg)

    strategy = place.strategy
    logging.info("devices: %s", place.description)

    # Same flags + seed -> same numbers: seeded initializers, Dropout, split; deterministic ops.
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    optim.set_precision_policy(cfg.mixed_precision)

    dataset = data.load(
        cfg.dataset,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        data_dir=cfg.data_dir,
        train_split=cfg.train_split,
        test_split=cfg.test_split,
        label_column=cfg.label_column,
    )
    logging.info(
        "data: %s, %d train / %d test rows, input %s, %d classes",
        dataset.name,
        len(dataset.train),
        len(dataset.test),
        dataset.input_shape,
        dataset.num_classes,
    )

    with strategy.scope():
        model = models.build(cfg, dataset, sync_bn=place.replicas > 1)
        optimizer = optim.make(cfg.optimizer, cfg.learning_rate, cfg.mixed_precision)
        optimizer.build(model.trainable_variables)
    logging.info(
        "model: %s, %d parameters, regularizers %s",
        cfg.model,
        model.count_params(),
        model.placement.as_dict(),
    )

    # Everything is validated; only now does the run directory appear.
    run_dir, resuming = rundir.prepare(cfg, run_name, create=place.is_chief)
    writers = Writers.create(run_dir) if place.is_chief and cfg.log_every > 0 else None
    trainer = Trainer(model, optimizer, strategy, dataset, cfg, writers)
    ckpts = Checkpoints(
        run_dir, model, optimizer, trainer, keep=cfg.keep_checkpoints, is_chief=place.is_chief
    )
    epoch = ckpts.restore_latest() if resuming else None
    if epoch is None:
        epoch = 0
        ckpts.save()  # epoch 0: the rollback target before the first periodic checkpoint
        if writers:
            write_run_info(writers, cfg)
        logging.info("run directory: %s (new run)", run_dir)
    else:
        logging.info("run directory: %s: resuming from the checkpoint at epoch %d", run_dir, epoch)
    resumed_from = epoch
    rollbacks = 0
    train_time = 0.0

    def finish(status, exit_code, **extra):
        metrics = {
            "status": status,
            "epochs": cfg.epochs,
            "epochs_completed": int(trainer.epoch.numpy()),
            "resumed_from_epoch": resumed_from,
            "rollbacks": rollbacks,
            "wall_time_s": round(time.time() - start_time, 3),
            "train_time_s": round(train_time, 3),
            "devices": place.description,
            "run_dir": run_dir,
            **extra,
            **run_metrics.results(trainer, model, cfg),
        }
        if place.is_chief:
            rundir.write_json(os.path.join(run_dir, "metrics.json"), metrics)
            if writers and status == "finished":
                write_final(writers, metrics["final"], metrics["epochs_completed"])
            if writers:
                writers.close()
        return metrics, exit_code

    progress = Progress(cfg.epochs, cfg.progress)
    with StopRequest() as stop:
        while epoch < cfg.epochs:
            end = min((epoch // cfg.checkpoint_every + 1) * cfg.checkpoint_every, cfg.epochs)
            t = time.time()
            bad_epoch = int(trainer.run(tf.constant(epoch, tf.int64), tf.constant(end, tf.int64)))
            train_time += time.time() - t
            if bad_epoch >= 0:
                if cfg.on_nan == "rollback" and rollbacks < cfg.max_rollbacks:
                    rollbacks += 1
                    epoch = ckpts.restore_latest()
                    lr = float(optimizer.learning_rate.numpy()) * cfg.rollback_lr_factor
                    optimizer.learning_rate = lr
                    logging.warning(
                        "loss became NaN/inf at epoch %d: rolled back to epoch %d, "
                        "learning rate now %g (rollback %d of %d)",
                        bad_epoch + 1,
                        epoch,
                        lr,
                        rollbacks,
                        cfg.max_rollbacks,
                    )
                    continue
                progress.close()
                _, code = finish("diverged", EXIT_DIVERGED, diverged_epoch=bad_epoch + 1)
                print(
                    f"train.py: error: the loss became NaN/inf at epoch {bad_epoch + 1}; lower "
                    "--learning_rate or pass --on_nan=rollback",
                    file=sys.stderr,
                )
                return code
            epoch = end
            ckpts.save()
            progress.update(epoch, trainer.epoch_metrics(epoch - 1))
            if _any_worker(place, stop.received is not None) and epoch < cfg.epochs:
                progress.close()
                finish("preempted", EXIT_PREEMPTED, signal=stop.received)
                logging.warning(
                    "%s received: checkpoint saved at epoch %d; rerun the same command to resume",
                    stop.received or "stop request",
                    epoch,
                )
                return EXIT_PREEMPTED
    progress.close()
    metrics, code = finish("finished", 0)
    if not place.is_chief:
        return code
    f = metrics["final"]
    # The tutorial's three lines (its evaluate() loss includes the penalty), then the split.
    print(
        f"Loss is {f['test_loss']},\nAccuracy is {f['test_accuracy'] * 100},\n"
        f"MSE is {f['test_mse']}"
    )
    print(
        f"(test data loss {f['test_data_loss']:.6f} + penalty {f['penalty']:.6f}; "
        f"run directory {run_dir})"
    )
    return code


def _any_worker(place, flag):
    """True when any worker received a stop signal (all workers must stop together)."""
    if place.num_workers == 1:
        return flag
    import tensorflow as tf

    value = place.strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
    return bool(place.strategy.reduce("SUM", value, axis=None).numpy() > 0)


def main():
    return train(options.config_from_flags())


if __name__ == "__main__":
    cli.run(main)
