"""Parity with Keras `fit`: our compiled loop vs `model.fit`, from the same initial weights.

    result = keras_fit_vs_loop(
        {"reg": "label_smoothing", "label_smoothing": "0.1"},
        keras_optimizer=lambda model: keras.optimizers.SGD(0.01),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    )
    assert result.max_rel_diff() < 1e-5

Both sides train full batch (--batch_size >= training rows, one step per epoch), so the order of
the rows does not matter, on the run's own training split. The loop side is exactly what
train.py runs (Trainer, the regularizers' hooks, their `finalize`); the fit side is the same model
class, its weights set to the loop's initial ones, compiled with the Keras optimizer and loss the
test names (Keras is the oracle: build them from Keras, not from our code), and `fit` with
shuffle=False. `keras_model_hook(model)` may add Keras-side regularization before compiling
(e.g. `layer.kernel.regularizer = keras.regularizers.L2(0.01)`; Keras 3 reads a variable's
`regularizer` attribute into `model.losses`).
"""

import dataclasses

import numpy as np
from absl import flags

import options

FULL_BATCH = 4096  # > every sklearn training split here: one step per epoch


def make_config(**flag_values):
    """A RunConfig from flags given as keyword arguments (values as on the command line)."""
    fv = flags.FlagValues()
    options.define_flags(fv)
    fv(["train.py"] + [f"--{k}={v}" for k, v in flag_values.items()])
    return options.config_from_flags(fv)


@dataclasses.dataclass
class Run:
    """One run built as train.py builds it, up to (not including) the run directory."""

    cfg: object
    dataset: object
    active: list
    model: object
    optimizer: object
    trainer: object
    strategy: object

    def train(self, epochs=None):
        """Trains epochs [current, epochs) in the compiled loop; returns the diverged epoch."""
        import tensorflow as tf

        last = self.cfg.epochs if epochs is None else epochs
        first = int(self.trainer.epoch.numpy())
        return int(self.trainer.run(tf.constant(first, tf.int64), tf.constant(last, tf.int64)))

    def finalize(self):
        """The regularizers' last word on the weights (EMA's averages), as train.py calls it."""
        for reg in self.active:
            reg.finalize(self.model, self.optimizer)


def build_run(cfg, dataset=None, *, writers=None, before_build=None, initial=None):
    """Seeds, data, model, optimizer (built) and Trainer of `cfg`, on one CPU device.

    before_build(optimizer, model): called before the optimizer is built (e.g. to change which
    variables it decays); initial: weights to start from instead of the seeded ones.
    """
    import keras
    import tensorflow as tf

    import data
    import models
    import regularizers
    from training import optim
    from training.loop import Trainer

    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    dataset = dataset or data.for_config(cfg)
    active = regularizers.resolve(cfg, models.num_hidden(cfg))
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    steps = -(-len(dataset.train) // min(cfg.batch_size, len(dataset.train)))
    with strategy.scope():
        model = models.build(cfg, dataset, active=active)
        if initial is not None:
            model.set_weights(initial)
        optimizer = optim.make(cfg, steps, active, model)
        if before_build is not None:
            before_build(optim.inner(optimizer), model)
        optimizer.build(model.trainable_variables)
    trainer = Trainer(model, optimizer, strategy, dataset, cfg, writers, active)
    return Run(cfg, dataset, active, model, optimizer, trainer, strategy)


def _local_path(variable):
    """A variable's path inside its model (the model's own name, mlp or mlp_1, dropped)."""
    return variable.path.split("/", 1)[1]


def weights_of(model):
    return [np.array(w.numpy()) for w in model.weights]


@dataclasses.dataclass
class ParityResult:
    names: list  # variable paths inside the model, in model.weights order
    initial: list
    loop: list  # weights after our loop (and the regularizers' finalize)
    fit: list  # weights after Keras fit
    run: Run
    fit_model: object
    fit_history: dict

    def rel_diffs(self):
        """{path: max |loop - fit| / max |fit|} per variable."""
        return {
            n: float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))
            for n, a, b in zip(self.names, self.loop, self.fit, strict=True)
        }

    def max_rel_diff(self):
        return max(self.rel_diffs().values())

    def moved(self):
        """max |final - initial| over all variables (a parity test must train something)."""
        return max(
            float(np.max(np.abs(a - b))) for a, b in zip(self.fit, self.initial, strict=True)
        )


def keras_fit_vs_loop(
    flag_values,
    *,
    keras_optimizer,
    loss=None,
    keras_model_hook=None,
    epochs=50,
):
    """Trains `flag_values` (a dict of train.py flags) with our loop and with Keras `fit` from
    the same initial weights, full batch; returns a ParityResult.

    keras_optimizer(model) -> a fresh Keras optimizer for the fit side (not built);
    loss: the fit side's loss (default CategoricalCrossentropy(from_logits=True)).
    """
    import keras

    import models

    flag_values = {
        "hidden": "16,8",
        "batch_size": str(FULL_BATCH),
        "log_every": "0",
        "epochs": str(epochs),
        **flag_values,
    }
    cfg = make_config(**flag_values)
    run = build_run(cfg)
    initial = weights_of(run.model)
    names = [_local_path(w) for w in run.model.weights]
    assert run.trainer.num_batches == 1, "parity needs full batch"
    assert run.train() == -1, "the loop diverged"
    run.finalize()
    loop = weights_of(run.model)

    fit_model = models.build(cfg, run.dataset, active=run.active)
    # Auto-named layers (layer_normalization_1, ...) differ between builds: compare structure.
    assert [(w.name, w.shape) for w in fit_model.weights] == [
        (w.name, w.shape) for w in run.model.weights
    ]
    fit_model.set_weights(initial)
    if keras_model_hook is not None:
        keras_model_hook(fit_model)
    fit_model.compile(
        optimizer=keras_optimizer(fit_model),
        loss=loss or keras.losses.CategoricalCrossentropy(from_logits=True),
        jit_compile=False,  # "auto" may pick XLA: other fusions, other roundings
    )
    train = run.dataset.train
    history = fit_model.fit(
        train.x, train.y, batch_size=len(train.x), epochs=epochs, shuffle=False, verbose=0
    )
    return ParityResult(
        names, initial, loop, weights_of(fit_model), run, fit_model, history.history
    )
