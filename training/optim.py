"""Keras optimizers and learning-rate schedules by flag, with fp16 loss scaling where needed."""

import keras
import tensorflow as tf

import framework_internals

_OPTIMIZERS = {
    "sgd": keras.optimizers.SGD,
    "momentum": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
}


@keras.saving.register_keras_serializable(package="regstudy")
class Scaled(keras.optimizers.schedules.LearningRateSchedule):
    """A Keras schedule times a factor variable, which a NaN rollback lowers (and checkpoints
    carry): a schedule has no learning-rate variable to assign."""

    def __init__(self, schedule):
        self.schedule = schedule
        self.scale = tf.Variable(1.0, trainable=False, name="lr_scale")

    def __call__(self, step):
        return self.schedule(step) * tf.cast(self.scale, tf.float32)

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule)}


@keras.saving.register_keras_serializable(package="regstudy")
class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `target` over `steps`, then `schedule` (counted from there)."""

    def __init__(self, schedule, steps, target):
        self.schedule, self.steps, self.target = schedule, steps, target

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.target * step / self.steps
        return tf.where(step < self.steps, warm, self.schedule(step - self.steps))

    def get_config(self):
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "steps": self.steps,
            "target": self.target,
        }


def learning_rate(cfg, steps_per_epoch):
    """A float for a constant rate without warm-up (the tutorial's), else a Scaled schedule."""
    lr = cfg.learning_rate
    if cfg.lr_schedule == "constant" and not cfg.warmup_epochs:
        return lr
    total = cfg.epochs * steps_per_epoch
    warmup = cfg.warmup_epochs * steps_per_epoch
    schedules = keras.optimizers.schedules
    if cfg.lr_schedule in ("cosine", "constant"):  # constant + warm-up: a cosine with alpha=1
        schedule = schedules.CosineDecay(
            0.0 if warmup else lr,
            decay_steps=max(total - warmup, 1),
            alpha=1.0 if cfg.lr_schedule == "constant" else 0.0,
            warmup_target=lr if warmup else None,
            warmup_steps=warmup,
        )
    else:
        epochs = cfg.lr_decay_epochs or [cfg.epochs // 2, cfg.epochs * 3 // 4]
        # The rate of step k is the schedule at the optimizer's iteration count k (0-based), and
        # PiecewiseConstantDecay switches after a boundary: epoch e's first step, minus one.
        boundaries = [max(e * steps_per_epoch - warmup - 1, 0) for e in sorted(set(epochs))]
        values = [lr * cfg.lr_decay_factor**i for i in range(len(boundaries) + 1)]
        schedule = schedules.PiecewiseConstantDecay(boundaries, values)
        if warmup:
            schedule = Warmup(schedule, warmup, lr)
    return Scaled(schedule)


def make(cfg, steps_per_epoch, active=(), model=None):
    """The optimizer cfg names, with the options the active regularizers ask for (not built)."""
    kwargs = {}
    for reg in active:
        kwargs.update(reg.optimizer_options())
    if cfg.optimizer == "momentum":
        kwargs.update(momentum=cfg.momentum, nesterov=cfg.nesterov)
    lr = learning_rate(cfg, steps_per_epoch)
    optimizer = _OPTIMIZERS[cfg.optimizer](learning_rate=lr, **kwargs)
    for reg in active:
        reg.configure_optimizer(optimizer, model)
    if cfg.mixed_precision == "fp16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def inner(optimizer):
    """The optimizer doing the updates (the one a LossScaleOptimizer wraps)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def scale_learning_rate(optimizer, factor):
    """Multiplies the learning rate by `factor` (a NaN rollback); returns the new base rate."""
    opt = inner(optimizer)
    schedule = framework_internals.learning_rate_slot(opt)  # a float's variable, or Scaled
    if isinstance(schedule, Scaled):
        schedule.scale.assign(schedule.scale * factor)
        return float(schedule(opt.iterations))
    lr = float(opt.learning_rate.numpy()) * factor
    opt.learning_rate = lr
    return lr


def checkpoint_items(optimizer):
    """What a checkpoint needs beyond the optimizer itself (a schedule's rollback factor)."""
    schedule = framework_internals.learning_rate_slot(inner(optimizer))
    return {"lr_scale": schedule.scale} if isinstance(schedule, Scaled) else {}


def set_precision_policy(mixed_precision):
    policy = {"none": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
    keras.mixed_precision.set_dtype_policy(policy[mixed_precision])
