"""Weight decay and EMA through the Keras optimizers: which variables decay, L2 vs decay, the
averages Keras keeps, their evaluation inside the loop and their finalization."""

import keras
import numpy as np
import pytest

from regularizers.weight_decay import EXCLUDED_NAMES
from tests.parity import build_run, make_config, weights_of

SMALL = {"hidden": "16,8", "log_every": "0"}


def _run(initial=None, before_build=None, **flag_values):
    cfg = make_config(**{**SMALL, **flag_values})
    return build_run(cfg, initial=initial, before_build=before_build)


def _reg(run, name):
    return next(r for r in run.active if r.name == name)


def _max_rel(a, b):
    return max(float(np.max(np.abs(x - y)) / np.max(np.abs(y))) for x, y in zip(a, b, strict=True))


# ---- weight decay ---------------------------------------------------------------------------
@pytest.mark.parametrize("decay_all", [False, True])
def test_weight_decay_shrinks_exactly_the_chosen_variables(decay_all):
    """One full-batch SGD step with decay λ minus the same step without: -lr·λ·w0 on decayed
    variables, exactly 0 on the others (kernels only by default; --weight_decay_all: all)."""
    lr, wd = 0.1, 0.5
    flags = dict(reg="weight_decay,layernorm", epochs="1", batch_size="4096", learning_rate=lr)
    if decay_all:
        flags["weight_decay_all"] = "true"
    shapes = [w.shape for w in weights_of(_run(**flags).model)]
    rng = np.random.default_rng(0)  # biases, beta start at 0: nonzero, so that decay shows
    w0 = [rng.uniform(0.2, 1.0, s).astype(np.float32) * rng.choice([-1, 1], s) for s in shapes]
    plain = _run(initial=w0, weight_decay="0", **flags)
    decayed = _run(initial=w0, weight_decay=str(wd), **flags)
    plain.train()
    decayed.train()
    names = [v.name for v in plain.model.weights]
    assert sorted(set(names)) == ["beta", "bias", "gamma", "kernel"]
    for name, w, a, b in zip(
        names, w0, weights_of(decayed.model), weights_of(plain.model), strict=True
    ):
        if decay_all or name not in EXCLUDED_NAMES:
            np.testing.assert_allclose(a - b, -lr * wd * w, rtol=1e-4, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
    reg = _reg(decayed, "weight_decay")
    want = {v.path for v in decayed.model.trainable_variables}
    if not decay_all:
        want = {p for p in want if p.endswith("/kernel")}
    got = reg.decayed(decayed.optimizer, decayed.model.trainable_variables)
    assert {v.path for v in got} == want
    # TensorBoard's weight_decay/sq_norm: sum of squares of the decayed variables, end of epoch
    sq = sum(float(np.sum(v.numpy() ** 2)) for v in got)
    assert decayed.trainer.epoch_metrics(0)["weight_decay/sq_norm"] == pytest.approx(sq, rel=1e-6)


def _exclude_output_and_biases(optimizer, model):
    # --reg=l2 --all_layers penalizes the hidden kernels only: decay exactly those.
    optimizer.exclude_from_weight_decay(var_list=[model.out.kernel], var_names=["bias"])


def _l2_vs_weight_decay(optimizer, lr, epochs=60, lam=0.01):
    common = dict(optimizer=optimizer, learning_rate=lr, batch_size="32", epochs=str(epochs))
    l2 = _run(reg="l2", all_layers="true", l2=str(lam), **common)
    w0 = weights_of(l2.model)
    wd = _run(
        initial=w0,
        before_build=_exclude_output_and_biases,
        reg="weight_decay",
        weight_decay=str(2 * lam),
        **common,
    )
    plain = _run(initial=w0, **common)
    for run in (l2, wd, plain):
        assert run.trainer.num_batches > 1  # minibatches: 96 rows / 32
        assert run.train() == -1
    decayed = wd.active[0].decayed(wd.optimizer, wd.model.trainable_variables)
    assert {v.path for v in decayed} == {b.core.kernel.path for b in wd.model.blocks}
    return weights_of(l2.model), weights_of(wd.model), weights_of(plain.model), (l2, wd)


def test_l2_penalty_lambda_equals_weight_decay_2lambda_under_sgd():
    """Keras L2 has no ½ (gradient 2λw) and decay is lr·wd·w: the same trajectory under SGD,
    up to float rounding; both far from the unregularized run."""
    l2, wd, plain, (run_l2, run_wd) = _l2_vs_weight_decay("sgd", 0.05)
    gap = _max_rel(wd, l2)
    assert gap < 1e-5, gap  # measured: ~1e-7
    assert _max_rel(plain, l2) > 100 * gap + 1e-4
    h_l2, h_wd = run_l2.trainer.history.numpy(), run_wd.trainer.history.numpy()
    col = run_l2.trainer.columns.index("train_data_loss")
    np.testing.assert_allclose(h_wd[:, col], h_l2[:, col], rtol=1e-5)


def test_l2_penalty_and_weight_decay_differ_under_adam():
    """Adam divides the L2 gradient by its running RMS; decoupled decay bypasses it."""
    l2, wd, plain, _ = _l2_vs_weight_decay("adam", 0.001)
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(wd, l2, strict=True))
    assert gap > 1e-3, gap
    assert _max_rel(plain, l2) > 1e-3


# ---- EMA ------------------------------------------------------------------------------------
def test_ema_keeps_the_keras_moving_average_and_evaluates_it_in_the_loop():
    m, epochs = 0.9, 8
    flags = dict(batch_size="4096", epochs=str(epochs), learning_rate="0.1", validate_on="test")
    ema = _run(reg="ema", ema_momentum=str(m), **flags)
    w0 = weights_of(ema.model)
    plain = _run(initial=w0, **flags)
    raw = []
    for epoch in range(1, epochs + 1):  # one full-batch step per epoch
        ema.train(epoch)
        raw.append([v.numpy() for v in ema.model.trainable_variables])
    plain.train()
    # Training uses and keeps the raw weights: bitwise those of a run without EMA (the per-epoch
    # swap of the averages into the model and back leaves nothing behind), never overwritten.
    for a, b in zip(ema.model.weights, plain.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The averages: Keras's recurrence, the first step's average being the weights themselves.
    want = raw[0]
    for weights in raw[1:]:
        want = [m * a + (1 - m) * w for a, w in zip(want, weights, strict=True)]
    pairs = ema.active[0].pairs(ema.optimizer)
    assert [w.path for w, _ in pairs] == [v.path for v in ema.model.trainable_variables]
    got = [avg.numpy() for _, avg in pairs]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
    assert _max_rel(got, raw[-1]) > 1e-3  # the averages lag the weights visibly
    last = ema.trainer.epoch_metrics(epochs - 1)
    flat = lambda ws: np.concatenate([w.ravel() for w in ws])  # noqa: E731
    distance = np.linalg.norm(flat(got) - flat(raw[-1])) / np.linalg.norm(flat(raw[-1]))
    assert last["ema/rel_distance"] == pytest.approx(distance, rel=1e-4)
    # finalize puts the averages into the model; the loop's ema/val_* were those weights' metrics.
    assert ema.active[0].finalize(ema.model, ema.optimizer) is True
    for v, g in zip(ema.model.trainable_variables, got, strict=True):
        np.testing.assert_array_equal(v.numpy(), g)
    averaged = ema.trainer.evaluate(ema.dataset.val, "val")
    for key in ("data_loss", "accuracy", "mse"):
        assert last[f"ema/val_{key}"] == pytest.approx(averaged[key], rel=1e-6, abs=1e-7), key
    assert last["val_data_loss"] != pytest.approx(last["ema/val_data_loss"], rel=1e-3)


def test_ema_finalizes_through_a_loss_scale_optimizer():
    """--mixed_precision=fp16 wraps the optimizer: finalize must reach the inner one's averages."""
    from regularizers.ema import EMA

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    inner = keras.optimizers.SGD(0.1, **EMA((), {"ema_momentum": 0.5}).optimizer_options())
    opt = keras.optimizers.LossScaleOptimizer(inner)
    opt.build(model.trainable_variables)
    w0 = [v.numpy() for v in model.trainable_variables]
    grads = [np.ones_like(w) for w in w0]
    for _ in range(2):  # averages: w1, then 0.5·w1 + 0.5·w2
        opt.apply_gradients(
            zip([g * opt.scale_loss(1.0) for g in grads], model.trainable_variables, strict=True)
        )
    w2 = [v.numpy() for v in model.trainable_variables]
    np.testing.assert_allclose(w2[0], w0[0] - 0.2, rtol=1e-6)
    assert EMA((), {"ema_momentum": 0.5}).finalize(model, opt) is True
    for v, w in zip(model.trainable_variables, w0, strict=True):
        np.testing.assert_allclose(v.numpy(), w - 0.15, rtol=1e-6)


# ---- end to end: EMA's test metrics, TensorBoard tags, SIGKILL and resume ---------------------
RESUME_ARGS = [
    "--reg=mixup,gaussian_noise,ema",
    "--hidden=16,8",
    "--epochs=1000",
    "--batch_size=32",
    "--checkpoint_every=50",
    "--optimizer=adam",
    "--learning_rate=0.001",
    "--ema_momentum=0.95",
    "--validate_on=test",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from tests.conftest import read_metrics, run_train

    logdir = tmp_path_factory.mktemp("full")
    logging = ["--log_every=10", "--stats_every=500", "--hist_every=0"]  # resume-insensitive
    run_train(*RESUME_ARGS, *logging, f"--logdir={logdir}", "--run_name=full", check=0)
    return logdir / "full", read_metrics(logdir / "full")


@pytest.mark.slow
def test_ema_run_tests_the_averaged_weights_and_logs_both(uninterrupted):
    from tests.conftest import read_scalars

    run_dir, m = uninterrupted
    f, h = m["final"], m["history"]
    # --validate_on=test: the last epoch's ema/val_* were the averaged weights on the test split,
    # which is what the finalized model is tested on (once, after training).
    assert f["test_data_loss"] == pytest.approx(h["ema/val_data_loss"][-1], rel=1e-6)
    assert f["test_mse"] == pytest.approx(h["ema/val_mse"][-1], rel=1e-6)
    # The final validation numbers are those of the weights the run ends with, the averages
    # (here the same split as test), not the raw weights' last history row.
    assert f["val_data_loss"] == pytest.approx(h["ema/val_data_loss"][-1], rel=1e-6)
    assert f["val_data_loss"] != pytest.approx(h["val_data_loss"][-1], rel=1e-4)
    assert m["test_evaluations"] == 1
    scalars = read_scalars(run_dir)
    for tag in ("ema/val_data_loss", "ema/val_accuracy", "ema/rel_distance"):
        assert [s for s, _ in scalars[tag]][-2:] == [990, 1000], tag
        assert scalars[tag][-1][1] == pytest.approx(h[tag][-1], rel=1e-6), tag
    assert [s for s, _ in scalars["gaussian_noise/dense0/snr"]] == [500, 1000]


@pytest.mark.slow
def test_sigkill_then_resume_with_mixup_noise_and_ema_is_bitwise_identical(logdir, uninterrupted):
    """The mixup draws (stateless, by step), the noise layer's seed state and EMA's averages
    (optimizer variables) all come back from the checkpoint."""
    from tests.conftest import kill_after_checkpoint, read_metrics, run_train
    from tests.test_resume import _assert_same_run

    args = [*RESUME_ARGS, "--log_every=0", f"--logdir={logdir}", "--run_name=killed"]
    kill_after_checkpoint(args, logdir / "killed", 300)
    assert not (logdir / "killed" / "metrics.json").exists()
    again = run_train(*args, check=0)
    assert "resuming from the checkpoint at epoch" in again.stderr
    m = read_metrics(logdir / "killed")
    assert 300 <= m["resumed_from_epoch"] < 1000
    _assert_same_run(m, uninterrupted[1])
