"""Label smoothing and mixup: the targets and batches the training step sees."""

import re

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from regularizers.beta import beta_sample, gamma_sample
from regularizers.label_smoothing import LabelSmoothing
from regularizers.mixup import Mixup
from tests.parity import build_run, make_config

RNG = np.random.default_rng(0)


# ---- label smoothing ------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5])
def test_smoothed_targets_give_keras_label_smoothing_loss(eps):
    y = keras.utils.to_categorical(RNG.integers(0, 4, 32), 4).astype(np.float32)
    logits = RNG.normal(size=(32, 4)).astype(np.float32)
    targets = LabelSmoothing((), {"label_smoothing": eps}).loss_targets(tf.constant(y))
    np.testing.assert_allclose(targets, y * (1 - eps) + eps / 4, rtol=1e-7)
    ours = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(targets, logits))
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)
    assert float(ours) == pytest.approx(float(keras_loss(y, logits)), rel=1e-6)


def test_label_smoothing_train_loss_is_smoothed_and_val_loss_is_clean():
    eps = 0.3
    flags = dict(hidden="16,8", log_every="0", epochs="1", batch_size="4096")
    run = build_run(make_config(reg="label_smoothing", label_smoothing=str(eps), **flags))
    train, val = run.dataset.train, run.dataset.val
    logits0 = run.model(train.x, training=True)
    smooth = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)
    clean = keras.losses.CategoricalCrossentropy(from_logits=True)
    run.train()
    row = run.trainer.epoch_metrics(0)
    # Train metrics: the epoch's one step, before its update; val: after it, in inference.
    assert row["train_data_loss"] == pytest.approx(float(smooth(train.y, logits0)), rel=1e-5)
    assert row["train_data_loss"] != pytest.approx(float(clean(train.y, logits0)), rel=1e-3)
    logits1 = run.model(val.x, training=False)
    assert row["val_data_loss"] == pytest.approx(float(clean(val.y, logits1)), rel=1e-5)
    probs = tf.nn.softmax(logits1).numpy()
    assert row["label_smoothing/val_confidence"] == pytest.approx(probs.max(-1).mean(), rel=1e-5)


# ---- mixup ----------------------------------------------------------------------------------
def _draws(fn, n=2000):
    seeds = tf.stack([tf.fill([n], tf.constant(11, tf.int64)), tf.range(n, dtype=tf.int64)], 1)
    return tf.function(lambda s: tf.map_fn(fn, s, fn_output_signature=tf.float32))(seeds).numpy()


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_lambda_follows_beta_alpha_alpha(alpha):
    lam = _draws(lambda s: beta_sample(alpha, s))
    assert scipy.stats.kstest(lam, scipy.stats.beta(alpha, alpha).cdf).pvalue > 0.01
    assert np.all((lam >= 0) & (lam <= 1))


def test_lambda_stays_finite_for_tiny_alpha():
    """Beta(0.01, 0.01) puts most mass within 1e-6 of 0 and 1, where Gamma(0.01) draws
    underflow in float32; the log-space draw stays finite and keeps the distribution."""
    lam = _draws(lambda s: beta_sample(0.01, s))
    assert np.all(np.isfinite(lam))
    beta = scipy.stats.beta(0.01, 0.01)
    for t in (1e-30, 1e-10, 1e-6, 0.5, 1 - 1e-6):
        assert np.mean(lam < t) == pytest.approx(beta.cdf(t), abs=0.035), t  # ~3 sd


def test_gamma_draws_follow_gamma():
    g = gamma_sample(1.2, 5000, tf.constant([3, 4], tf.int64)).numpy()
    assert scipy.stats.kstest(g, scipy.stats.gamma(1.2).cdf).pvalue > 0.01


@pytest.mark.parametrize("shape", [(12, 12), (12, 12, 1, 1)], ids=["tabular", "image"])
def test_mixup_mixes_inputs_and_labels_with_one_lambda_and_a_permutation(shape):
    """x = identity rows: each mixed row is λ·e_i + (1−λ)·e_π(i), so λ and π can be read off."""
    n = shape[0]
    x = np.eye(n, dtype=np.float32).reshape(shape)
    y = keras.utils.to_categorical(RNG.integers(0, 3, n), 3).astype(np.float32)
    reg = Mixup((), {"mixup_alpha": 1.0})
    seed = tf.constant([5, 17], tf.int64)
    x2, y2 = (t.numpy() for t in reg.transform(tf.constant(x), tf.constant(y), seed))
    assert x2.shape == shape
    rows = x2.reshape(n, n)
    lam = None
    perm = []
    for i, row in enumerate(rows):
        others = [j for j in np.flatnonzero(row) if j != i]
        perm.append(others[0] if others else i)
        if others:
            lam = row[i] if lam is None else lam
            assert row[i] == pytest.approx(lam, abs=1e-6)  # one λ for the whole batch
    assert lam is not None and 0 < lam < 1
    assert sorted(perm) == list(range(n))  # a permutation
    np.testing.assert_allclose(y2, lam * y + (1 - lam) * y[perm], atol=1e-6)
    again = reg.transform(tf.constant(x), tf.constant(y), seed)[0].numpy()
    np.testing.assert_array_equal(again, x2)  # stateless: the step's seed decides
    other = reg.transform(tf.constant(x), tf.constant(y), tf.constant([5, 18], tf.int64))[0]
    assert not np.array_equal(other.numpy(), x2)


def test_mixup_trains_on_mixed_batches_reproducibly():
    flags = dict(hidden="16,8", log_every="0", epochs="3", batch_size="32")
    runs = [build_run(make_config(reg="mixup", mixup_alpha="0.4", **flags)) for _ in range(2)]
    plain = build_run(make_config(**flags), initial=[w.numpy() for w in runs[0].model.weights])
    for run in (*runs, plain):
        assert run.train() == -1
    a, b, c = (run.trainer.history.numpy() for run in (*runs, plain))
    np.testing.assert_array_equal(a, b)
    col = runs[0].trainer.columns.index("train_data_loss")
    assert not np.allclose(a[:, col], c[:, col], rtol=1e-3)  # mixed targets: another loss


# ---- bad values of every new flag -----------------------------------------------------------
BAD_VALUES = {
    "weight_decay": (["-0.1", "nan", "inf"], "--weight_decay must be >= 0"),
    "ema_momentum": (["-0.1", "1", "1.5", "nan"], "--ema_momentum must be in [0, 1)"),
    "label_smoothing": (["-0.1", "1", "2", "nan"], "--label_smoothing must be in [0, 1)"),
    "mixup_alpha": (["0", "-1", "nan", "inf"], "--mixup_alpha must be a number > 0"),
    "noise_stddev": (["-0.1", "1.5", "nan", "inf"], "--noise_stddev must be in [0, 1]"),
    "gaussian_dropout_rate": (["-0.1", "1", "nan"], "--gaussian_dropout_rate must be in [0, 1)"),
}
OWNER = {
    "weight_decay": "weight_decay",
    "ema_momentum": "ema",
    "label_smoothing": "label_smoothing",
    "mixup_alpha": "mixup",
    "noise_stddev": "gaussian_noise",
    "gaussian_dropout_rate": "gaussian_dropout",
}
CASES = [(flag, v, msg) for flag, (values, msg) in BAD_VALUES.items() for v in values]


@pytest.mark.parametrize("flag, value, message", CASES)
def test_bad_values_are_refused_as_flags_and_in_specs(flag, value, message):
    """The flag validators train.py's one-line error prints, and --regularizer specs."""
    from absl import flags

    import options
    import regularizers
    from errors import UserError

    fv = flags.FlagValues()
    options.define_flags(fv)
    with pytest.raises(
        flags.IllegalFlagValueError, match=f"^flag --{flag}=.*: {re.escape(message)}"
    ):
        fv(["train.py", f"--reg={OWNER[flag]}", f"--{flag}={value}"])
    with pytest.raises(UserError, match=re.escape(message)):
        regularizers.parse_spec(f"{OWNER[flag]},{flag}={value}")


EDGES = [
    ("weight_decay", "0"),
    ("ema_momentum", "0"),
    ("label_smoothing", "0"),
    ("mixup_alpha", "1e-3"),
    ("noise_stddev", "1"),
    ("gaussian_dropout_rate", "0"),
]


@pytest.mark.parametrize("flag, value", EDGES)
def test_edge_values_are_accepted(flag, value):
    assert make_config(reg=OWNER[flag], **{flag: value}).values[flag] == float(value)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--reg=mixup", "--mixup_alpha=0"], "--mixup_alpha must be a number > 0"),
        (["--reg=ema", "--ema_momentum=nan"], "--ema_momentum must be in [0, 1)"),
        (["--reg=gaussian_noise", "--noise_stddev=inf"], "--noise_stddev must be in [0, 1]"),
        (["--label_smoothing=0.1"], "--label_smoothing does nothing here"),
    ],
)
def test_bad_values_end_train_py_with_one_line(tmp_path, args, message):
    from tests.conftest import run_train

    proc = run_train(*args, f"--logdir={tmp_path / 'logs'}", check=2)
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("train.py: error: ") and message in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "logs").exists()
