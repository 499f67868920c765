"""Our loop vs Keras `fit`, from the same initial weights: L1, L2, elastic net, max-norm,
orthogonal and activity regularization give the same weights after 50 full-batch SGD epochs.

The Keras side uses Keras's own regularizers and constraints (a kernel's `regularizer` and
`constraint`, read by `model.losses` and `optimizer.apply`; `ActivityRegularization` layers in a
functional model); ours, the plug-ins' penalty and after_step hooks in the compiled loop.
Each test also checks that the regularizer moved the weights far more than the tolerance away
from unregularized training, so a hook that did nothing would fail it.
"""

import keras
import numpy as np
import pytest

from tests import parity

EPOCHS = 50
LR = 0.1
TOL = 1e-5  # relative; smooth penalties and projections agree to ~1e-7 here
BASE = {"hidden": "16,8", "learning_rate": str(LR)}


def sgd(model):
    return keras.optimizers.SGD(LR)


def on_kernels(make, layers=(0, 1)):
    """A keras_model_hook giving the hidden kernels at `layers` what `make(kernel)` sets."""

    def hook(model):
        for i in layers:
            make(model.blocks[i].core.kernel)

    return hook


def set_regularizer(regularizer):
    def make(kernel):
        kernel.regularizer = regularizer

    return make


def set_constraint(constraint):
    def make(kernel):
        kernel.constraint = constraint

    return make


@pytest.fixture(scope="module")
def unregularized():
    """Keras fit's weights without any regularizer, from the same initial weights."""
    result = parity.keras_fit_vs_loop({**BASE, "reg": "none"}, keras_optimizer=sgd, epochs=EPOCHS)
    assert result.max_rel_diff() < TOL
    return dict(zip(result.names, result.fit, strict=True))


def distance(a, b):
    """max |a - b| over the variables of two {path: array}."""
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def check(result, unregularized, tol=TOL):
    assert result.moved() > 0.1, "training did not move the weights"
    assert result.max_rel_diff() < tol, result.rel_diffs()
    # The regularizer mattered: far more than the tolerance.
    fit = dict(zip(result.names, result.fit, strict=True))
    effect = distance(fit, unregularized)
    loop_vs_fit = distance(dict(zip(result.names, result.loop, strict=True)), fit)
    assert effect > 100 * max(loop_vs_fit, 1e-7), (effect, loop_vs_fit)


@pytest.mark.parametrize(
    "name, flag_values, keras_regularizer",
    [
        ("l2", {"l2": "0.01"}, keras.regularizers.L2(0.01)),
        # A small L1: with lr·λ = 1e-4 per step few weights reach zero in 50 steps, where the
        # subgradient's sign (ours and Keras's alike, but on weights that differ by rounding)
        # could flip and leave ~lr·λ apart (platform-facts: ~3e-3 after 350 tutorial epochs).
        ("l1", {"l1": "0.001"}, keras.regularizers.L1(0.001)),
        (
            "l1,l2",
            {"l1": "0.001", "l2": "0.01"},
            keras.regularizers.L1L2(l1=0.001, l2=0.01),
        ),
    ],
)
def test_kernel_penalties_match_keras_fit(name, flag_values, keras_regularizer, unregularized):
    result = parity.keras_fit_vs_loop(
        {**BASE, "reg": name, "all_layers": "true", **flag_values},
        keras_optimizer=sgd,
        keras_model_hook=on_kernels(set_regularizer(keras_regularizer)),
        epochs=EPOCHS,
    )
    check(result, unregularized)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_matches_keras_fit(mode, unregularized):
    result = parity.keras_fit_vs_loop(
        {**BASE, "reg": "orthogonal", "all_layers": "true", "orthogonal": "0.5"}
        | {"orthogonal_mode": mode},
        keras_optimizer=sgd,
        keras_model_hook=on_kernels(
            set_regularizer(keras.regularizers.OrthogonalRegularizer(0.5, mode=mode))
        ),
        epochs=EPOCHS,
    )
    check(result, unregularized)


def test_max_norm_matches_keras_fit_with_a_kernel_constraint(unregularized):
    result = parity.keras_fit_vs_loop(
        {**BASE, "reg": "max_norm", "all_layers": "true", "max_norm": "0.8"},
        keras_optimizer=sgd,
        keras_model_hook=on_kernels(set_constraint(keras.constraints.MaxNorm(0.8))),
        epochs=EPOCHS,
    )
    check(result, unregularized)
    for i in (0, 1):  # the bound holds and binds
        kernel = result.run.model.blocks[i].core.kernel.numpy()
        norms = np.sqrt((kernel**2).sum(axis=0))
        assert norms.max() <= 0.8 * (1 + 1e-6) and norms.max() >= 0.8 * (1 - 1e-6)


def test_activity_matches_keras_fit_with_activity_regularization_layers(unregularized):
    """Keras side: a functional model Dense(tanh) -> ActivityRegularization -> Dense(relu) ->
    ActivityRegularization -> Dense, which Keras divides by the batch size."""
    cfg = parity.make_config(
        **BASE,
        reg="activity",
        all_layers="true",
        activity_l1="0.01",
        activity_l2="0.02",
        batch_size=str(parity.FULL_BATCH),
        log_every="0",
        epochs=str(EPOCHS),
    )
    run = parity.build_run(cfg)
    layers = [layer for _, layer in run.model.kernel_layers()]
    names = [w.path.split("/", 1)[1] for layer in layers for w in (layer.kernel, layer.bias)]
    initial = [layer.get_weights() for layer in layers]
    assert run.train() == -1
    loop = [w for layer in layers for w in layer.get_weights()]

    train = run.dataset.train
    x = inputs = keras.Input(shape=train.x.shape[1:])
    for units, activation in ((16, "tanh"), (8, "relu")):
        x = keras.layers.Dense(units, activation=activation)(x)
        x = keras.layers.ActivityRegularization(l1=0.01, l2=0.02)(x)
    outputs = keras.layers.Dense(train.y.shape[1])(x)
    reference = keras.Model(inputs, outputs)
    dense = [layer for layer in reference.layers if isinstance(layer, keras.layers.Dense)]
    for layer, values in zip(dense, initial, strict=True):
        layer.set_weights(values)
    reference.compile(
        optimizer=sgd(reference),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    reference.fit(
        train.x, train.y, batch_size=len(train.x), epochs=EPOCHS, shuffle=False, verbose=0
    )
    fit = [w for layer in dense for w in layer.get_weights()]
    for a, b in zip(loop, fit, strict=True):
        assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < TOL
    # The activity penalty mattered (the unregularized fit starts from the same weights).
    fit, loop = dict(zip(names, fit, strict=True)), dict(zip(names, loop, strict=True))
    assert distance(fit, unregularized) > 100 * max(distance(loop, fit), 1e-7)
