"""Optimizers and learning-rate schedules: Keras's own, checkpointed, resumed bitwise."""

import keras
import numpy as np
import pytest

import regularizers
from tests.conftest import kill_after_checkpoint, read_metrics, run_train
from tests.test_models import config
from training import optim


def _lr(schedule, step):
    return float(schedule(step)) if callable(schedule) else schedule


def test_constant_without_warmup_is_the_float_the_tutorial_used():
    assert optim.learning_rate(config(), 4) == 0.01


@pytest.mark.parametrize("steps_per_epoch", [1, 4])
def test_schedules_follow_keras(steps_per_epoch):
    s = steps_per_epoch
    cosine = optim.learning_rate(config(lr_schedule="cosine", epochs="100"), s)
    want = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=100 * s)
    for step in (0, 1, 37 * s, 99 * s, 100 * s):
        assert _lr(cosine, step) == pytest.approx(float(want(step)), rel=1e-6)
    warm = optim.learning_rate(config(lr_schedule="cosine", epochs="100", warmup_epochs="10"), s)
    assert _lr(warm, 0) == 0.0
    assert _lr(warm, 5 * s) == pytest.approx(0.005, rel=1e-5)  # linear warm-up
    assert _lr(warm, 10 * s) == pytest.approx(0.01, rel=1e-5)
    assert _lr(warm, 100 * s) == pytest.approx(0.0, abs=1e-7)
    step = optim.learning_rate(
        config(lr_schedule="step", epochs="100", lr_decay_epochs="30,60", lr_decay_factor="0.5"),
        s,
    )
    # The rate the first step of each epoch uses (the optimizer's 0-based iteration count).
    for epoch, rate in ((0, 0.01), (29, 0.01), (30, 0.005), (59, 0.005), (60, 0.0025)):
        assert _lr(step, epoch * s) == pytest.approx(rate, rel=1e-6), epoch
    assert _lr(step, 30 * s - 1) == pytest.approx(0.01)  # the last step of epoch 30
    default = optim.learning_rate(config(lr_schedule="step", epochs="100"), s)
    assert _lr(default, 50 * s - 1) == pytest.approx(0.01)
    assert _lr(default, 50 * s) == pytest.approx(0.001)
    assert _lr(default, 75 * s) == pytest.approx(0.0001)
    constant_warm = optim.learning_rate(config(warmup_epochs="4", epochs="10"), s)
    assert _lr(constant_warm, 2 * s) == pytest.approx(0.005, rel=1e-5)
    assert _lr(constant_warm, 9 * s) == pytest.approx(0.01, rel=1e-6)


def test_optimizers_are_keras_with_the_flags_options():
    momentum = optim.make(config(optimizer="momentum", momentum="0.8", nesterov="true"), 1)
    assert isinstance(momentum, keras.optimizers.SGD)
    assert momentum.momentum == 0.8 and momentum.nesterov is True
    assert isinstance(optim.make(config(optimizer="rmsprop"), 1), keras.optimizers.RMSprop)
    cfg = config(optimizer="adamw", reg="weight_decay", weight_decay="0.05")
    adamw = optim.make(cfg, 1, regularizers.resolve(cfg, 5))
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == 0.05


def test_a_rollback_scales_a_schedule():
    opt = optim.make(config(lr_schedule="cosine", epochs="10"), 1)
    opt.build([keras.Variable(np.zeros(2, np.float32))])
    before = float(opt.learning_rate)
    assert optim.scale_learning_rate(opt, 0.5) == pytest.approx(before / 2, rel=1e-6)
    assert set(optim.checkpoint_items(opt)) == {"lr_scale"}


@pytest.mark.slow
def test_momentum_cosine_warmup_resume_bitwise(tmp_path):
    """SIGKILL mid-run (after the checkpoint at epoch 40), resume: the same numbers."""
    args = [
        "--optimizer=momentum",
        "--nesterov",
        "--lr_schedule=cosine",
        "--warmup_epochs=10",
        "--learning_rate=0.05",
        "--reg=dropout",
        "--hidden=32,16",
        "--epochs=120",
        "--batch_size=32",
        "--checkpoint_every=20",
        "--log_every=0",
    ]
    run_train(*args, f"--logdir={tmp_path}", "--run_name=full", check=0)
    kill_after_checkpoint([*args, f"--logdir={tmp_path}", "--run_name=k"], tmp_path / "k", 40)
    run_train(*args, f"--logdir={tmp_path}", "--run_name=k", check=0)
    a, b = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "k")
    assert b["resumed_from_epoch"] >= 40
    for key in ("final", "history", "weights"):
        assert a[key] == b[key], key
    lr = a["history"]["learning_rate"]
    assert lr[0] < lr[9] == pytest.approx(0.05, rel=0.1) and lr[-1] < 0.001  # warm-up, decay
