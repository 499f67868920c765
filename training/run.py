"""Trains one run from its configuration: the library function train.py and the sweep workers call.

    from training.run import train
    code = train(cfg)   # cfg: an options.RunConfig (options.config_from_flags, or a run's own)

Reads top to bottom: devices -> data -> model/optimizer -> run directory -> checkpoint restore
-> the outer loop (training/controller.py) around the compiled epochs (training/loop.py) -> the
test split, once -> metrics.json and the exported model. Returns the process exit code
(runs/exit_codes.py); bad input raises errors.UserError.
"""

import os
import sys
import time

from absl import logging

import options


def train(cfg):
    """Runs the whole job for `cfg`; returns the process exit code."""
    place = start_devices(cfg)  # before anything else uses TF: it fixes the device list
    import tensorflow as tf

    import data
    import models
    import regularizers
    from inspection import posthoc
    from inspection.summaries import Writers
    from runs import rundir
    from runs.checkpoints import Checkpoints
    from runs.progress import Progress
    from training import optim, reuse
    from training.controller import Controller
    from training.loop import Trainer

    start_time = time.time()
    active = regularizers.resolve(cfg, models.num_hidden(cfg))
    run_name = cfg.run_name or options.default_run_name(cfg, active)
    # A finished run, or one another process holds, is refused before any work.
    rundir.prepare(cfg, run_name, create=False, check_busy=True)

    reuse.begin(cfg)  # in a sweep worker: forget a compiled loop this run cannot use
    # Same flags + seed -> same numbers: seeded initializers, Dropout, split; deterministic ops.
    reuse.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    optim.set_precision_policy(cfg.mixed_precision)

    dataset = data.for_config(cfg)
    steps_per_epoch = -(-len(dataset.train) // min(cfg.batch_size, len(dataset.train)))
    with place.strategy.scope():
        model = models.build(cfg, dataset, sync_bn=place.replicas > 1, active=active)
        optimizer = optim.make(cfg, steps_per_epoch, active, model)
        optimizer.build(model.trainable_variables)
    # Logged once everything is validated: a refused run prints its one error line alone.
    logging.info("devices: %s", place.description)
    log_dataset(dataset)
    log_model(model, active, cfg)

    # Everything is validated; only now does the run directory appear (locked until the end).
    run_dir, resuming = rundir.prepare(cfg, run_name, create=place.is_chief)
    try:
        writers = Writers.create(run_dir) if place.is_chief and cfg.log_every > 0 else None
        trainer = Trainer(model, optimizer, place.strategy, dataset, cfg, writers, active)
        trainer = reuse.trainer(trainer, place)  # a sweep worker's compiled loop, if it fits
        ckpts = Checkpoints(
            run_dir,
            trainer.checkpoint_items(),
            trainer.epoch,
            keep=cfg.keep_checkpoints,
            is_chief=place.is_chief,
        )
        epoch = restore_or_start(ckpts, resuming, writers, cfg, run_dir)
        if epoch == 0 and place.is_chief:  # kept for the distance from initialization
            posthoc.save_initial(run_dir, trainer.model)
        progress = Progress(cfg.epochs, cfg.progress)
        controller = Controller(trainer, ckpts, cfg, place, progress, run_dir)
        outcome = controller.run(epoch)
        progress.close()

        metrics = conclude(trainer, dataset, outcome, active, place, cfg)
        if outcome.status == "finished" and place.is_chief and "final" in metrics:
            add_posthoc(metrics, trainer.model, dataset, cfg, run_dir, place)
        metrics.update(
            resumed_from_epoch=epoch,
            rollbacks=controller.rollbacks,
            wall_time_s=round(time.time() - start_time, 3),
            train_time_s=round(controller.train_time, 3),
            run_dir=run_dir,
        )
        if place.is_chief:
            save_results(run_dir, metrics, trainer, dataset, active, writers, cfg)
    finally:
        rundir.release(run_dir)

    say_outcome(outcome, metrics, run_dir, place)
    return outcome.exit_code


def restore_or_start(ckpts, resuming, writers, cfg, run_dir):
    """The epoch to train from: the newest checkpoint that restores, or 0 for a new run."""
    from inspection.summaries import write_run_info

    epoch = ckpts.restore_latest() if resuming else None
    if epoch is not None:
        logging.info("run directory: %s: resuming from the checkpoint at epoch %d", run_dir, epoch)
        return epoch
    ckpts.save()  # epoch 0: the rollback target before the first periodic checkpoint
    if writers:
        write_run_info(writers, cfg, trial_id=os.path.basename(run_dir))
    logging.info("run directory: %s (new run)", run_dir)
    return 0


def start_devices(cfg):
    """Imports TensorFlow and applies the device flags, with TF's start-up chatter filtered."""
    from cluster.tf_runtime import quiet_startup

    with quiet_startup():
        from cluster import devices

        return devices.configure(cfg)


def log_model(model, active, cfg):
    import regularizers

    description = regularizers.describe(active, cfg)
    logging.info("model: %s, %d parameters; %s", cfg.model, model.count_params(), description)
    for reg in active:
        if reg.passes_per_step != 1:  # SAM: its cost, said up front
            logging.info("%s: %d forward-backward passes per step", reg.title, reg.passes_per_step)


def log_dataset(dataset):
    val = "validation (= test: the tutorial's protocol)" if dataset.validates_on_test else "val"
    logging.info(
        "data: %s, %d train / %d %s / %d test rows, input %s, %d classes",
        dataset.name,
        len(dataset.train),
        len(dataset.val),
        val,
        len(dataset.test),
        dataset.input_shape,
        dataset.num_classes,
    )


def conclude(trainer, dataset, outcome, active, place, cfg):
    """The weights the run ends with (early stopping's best, then the regularizers' last word,
    e.g. EMA's averages), the test split evaluated once on exactly those, and metrics.json."""
    from runs import metrics as run_metrics

    row = run_metrics.last_finite_row(trainer)
    test = val = None
    if outcome.status == "finished":  # an interrupted or diverged run never sees the test split
        finalized = False  # a regularizer replaced the weights: no history row evaluated them
        if trainer.early_stopping:
            row = trainer.early_stopping.restore_best_weights() - 1
        for reg in active:
            finalized = bool(reg.finalize(trainer.model, trainer.optimizer)) or finalized
        if finalized:  # validation numbers of the weights the run ends with, too
            val = trainer.evaluate(dataset.val, "val")
        restored = trainer.early_stopping is not None or finalized
        test = final_test_metrics(trainer, dataset, row, restored=restored)
    return {
        "status": outcome.status,
        "epochs": cfg.epochs,
        "epochs_completed": int(trainer.epoch.numpy()),
        "devices": place.description,
        "validated_on": "test" if dataset.validates_on_test else "val",
        "data_fingerprint": dataset.fingerprint(),
        # Split sizes: an accuracy is a count of them (report.py compares counts, exact ties).
        "examples": {s: len(getattr(dataset, s)) for s in ("train", "val", "test")},
        "test_evaluations": trainer.evaluations.get("test", 0),  # passes after training
        **outcome.details,
        **run_metrics.results(trainer, trainer.model, cfg, row=row, test=test, val=val),
    }


def add_posthoc(metrics, model, dataset, cfg, run_dir, place):
    """Calibration and generalization measures of the final weights (docs/measures.md). The
    sharpness search perturbs the weights in place: one worker alone may do that."""
    from inspection import posthoc

    final, sections = posthoc.results(
        model, dataset, cfg, run_dir, sharpness=place.num_workers == 1
    )
    metrics["final"].update(final)
    metrics.update(sections)


def save_results(run_dir, metrics, trainer, dataset, active, writers, cfg):
    """The exported model first, then metrics.json, which marks the run finished: a run that
    could not export (a full disk) is resumed and exports on the rerun."""
    from inspection.summaries import write_final
    from runs import rundir
    from runs.export import export

    finished = metrics["status"] == "finished"
    if finished:
        export(run_dir, trainer.model, dataset, cfg, metrics, active)
    rundir.write_json(os.path.join(run_dir, "metrics.json"), metrics)
    if writers and metrics["status"] != "preempted":  # a preempted run goes on: no end yet
        write_final(
            writers, metrics.get("final") if finished else None, metrics["epochs_completed"]
        )
    if writers:
        writers.close()


def final_test_metrics(trainer, dataset, row, *, restored):
    """The test split's metrics of the final weights. Under the tutorial's protocol the last
    epoch's validation pass already evaluated them on the test split, so its row is reused."""
    if dataset.validates_on_test and not restored and row == int(trainer.epoch.numpy()) - 1:
        m = trainer.epoch_metrics(row)
        return {"data_loss": m["val_data_loss"], "accuracy": m["val_accuracy"], "mse": m["val_mse"]}
    return trainer.evaluate(dataset.test, "test")


def say_outcome(outcome, metrics, run_dir, place):
    """A diverged run's one error line, or a finished run's final lines (on the chief)."""
    if outcome.status == "diverged":
        print(
            f"train.py: error: the loss became NaN/inf at epoch {outcome.details['diverged_epoch']}"
            "; lower --learning_rate or pass --on_nan=rollback",
            file=sys.stderr,
        )
    if outcome.status == "finished" and place.is_chief:
        print_final_lines(metrics["final"], run_dir)


def print_final_lines(f, run_dir):
    """The tutorial's three lines (its evaluate() loss includes the penalty), rounded, then the
    split of that loss and the validation accuracy; metrics.json has every digit."""
    print(f"Loss is {f['test_loss']:.4f},")
    print(f"Accuracy is {f['test_accuracy'] * 100:.2f},")
    print(f"MSE is {f['test_mse']:.4f}")
    print(
        f"(test data loss {f['test_data_loss']:.4f} + penalty {f['penalty_total']:.4f}; "
        f"validation accuracy {f['val_accuracy'] * 100:.2f}; run directory {run_dir})"
    )
