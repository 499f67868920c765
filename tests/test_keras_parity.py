"""Our loop vs Keras `fit` for label smoothing, weight decay (SGD, AdamW) and EMA: the same
final weights from the same initial ones, full batch, the Keras side configured from Keras
alone (tests/parity.py)."""

import keras
import pytest

from tests.parity import keras_fit_vs_loop

EPOCHS = 50
EXCLUDED = ["bias", "gamma", "beta"]  # what Keras users exclude for "decay kernels only"


def _assert_parity(result, tolerance=1e-5):
    assert result.moved() > 1e-2, "nothing trained: parity would be vacuous"
    worst = result.max_rel_diff()
    print(f"max relative weight difference loop vs fit: {worst:.2e}")
    assert worst < tolerance, result.rel_diffs()


def test_label_smoothing_matches_keras_categorical_crossentropy():
    eps = 0.2
    result = keras_fit_vs_loop(
        {"reg": "label_smoothing", "label_smoothing": str(eps), "learning_rate": "0.1"},
        keras_optimizer=lambda model: keras.optimizers.SGD(0.1),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps),
        epochs=EPOCHS,
    )
    _assert_parity(result)
    # The reported train data loss is the smoothed one (fit's loss); epoch 1: before any step.
    history = result.run.trainer.history.numpy()
    col = result.run.trainer.columns.index("train_data_loss")
    assert history[0, col] == pytest.approx(result.fit_history["loss"][0], rel=1e-5)
    assert history[-1, col] == pytest.approx(result.fit_history["loss"][-1], rel=1e-4)


def _keras_decay(optimizer_class, lr, wd, **kwargs):
    def make(model):
        opt = optimizer_class(learning_rate=lr, weight_decay=wd, **kwargs)
        opt.exclude_from_weight_decay(var_names=EXCLUDED)
        return opt

    return make


@pytest.mark.parametrize(
    "flag_values, keras_optimizer",
    [
        (
            {"optimizer": "sgd", "learning_rate": "0.1", "weight_decay": "0.05"},
            _keras_decay(keras.optimizers.SGD, 0.1, 0.05),
        ),
        (  # the decay hits biases and LayerNorm's gamma/beta too
            {
                "optimizer": "sgd",
                "learning_rate": "0.1",
                "weight_decay": "0.05",
                "weight_decay_all": "true",
                "reg": "weight_decay,layernorm",
            },
            lambda model: keras.optimizers.SGD(learning_rate=0.1, weight_decay=0.05),
        ),
        (
            {"optimizer": "adamw", "learning_rate": "0.01", "weight_decay": "0.1"},
            _keras_decay(keras.optimizers.AdamW, 0.01, 0.1),
        ),
    ],
    ids=["sgd", "sgd_all_layernorm", "adamw"],
)
def test_weight_decay_matches_keras_optimizers(flag_values, keras_optimizer):
    result = keras_fit_vs_loop(
        {"reg": "weight_decay", **flag_values}, keras_optimizer=keras_optimizer, epochs=EPOCHS
    )
    _assert_parity(result)


def test_ema_matches_keras_fit_which_finalizes_to_the_averages():
    result = keras_fit_vs_loop(
        {"reg": "ema", "ema_momentum": "0.9", "learning_rate": "0.1"},
        keras_optimizer=lambda model: keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.9),
        epochs=EPOCHS,
    )
    _assert_parity(result)
    # The averages are far from the last raw weights (history's ema/rel_distance), so parity
    # means both sides ended on the averages.
    assert result.run.trainer.epoch_metrics(EPOCHS - 1)["ema/rel_distance"] > 1e-3
