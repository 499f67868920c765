"""ECE, Brier, reliability bins and temperature scaling against scikit-learn and by hand."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from inspection import calibration


def _made_up(n=500, k=4, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(k) * 0.7, size=n)
    labels = rng.integers(0, k, size=n)
    return probs, labels


def test_reliability_bins_match_sklearn_calibration_curve():
    probs, labels = _made_up()
    conf, hit = probs.max(-1), (probs.argmax(-1) == labels).astype(float)
    prob_true, prob_pred = calibration_curve(hit, conf, n_bins=15, strategy="uniform")
    r = calibration.reliability(probs, labels, 15)
    filled = r["count"] > 0
    np.testing.assert_allclose(r["accuracy"][filled], prob_true, rtol=1e-12)
    np.testing.assert_allclose(r["confidence"][filled], prob_pred, rtol=1e-12)
    assert r["count"].sum() == len(labels)
    # ECE is the count-weighted gap of those very bins.
    counts = r["count"][filled]
    expected = np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred))
    assert calibration.ece(probs, labels, 15) == pytest.approx(expected, rel=1e-12)


def test_brier_matches_sklearn_multiclass_and_per_class_sum():
    probs, labels = _made_up(k=3)
    ours = calibration.brier(probs, labels)
    # scikit-learn's multi-class Brier: the mean over examples of the sum over classes.
    sk = brier_score_loss(labels, probs, labels=[0, 1, 2], scale_by_half=False)
    assert ours == pytest.approx(sk, rel=1e-12)
    # ... which is the sum of the one-vs-rest binary Brier scores of the classes.
    per_class = sum(brier_score_loss(labels == c, probs[:, c]) for c in range(3))
    assert ours == pytest.approx(per_class, rel=1e-12)


def test_ece_brier_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    # 2 bins: (0, .5], (.5, 1]; every confidence is above .5: one bin, mean confidence
    # (.9 + .8 + .6 + .7) / 4 = .75, accuracy 3/4: ECE 0.
    assert calibration.ece(probs, labels, 2) == pytest.approx(0.0, abs=1e-15)
    # 10 bins: (.5,.6]: .6 hit; (.6,.7]: .7 hit; (.7,.8]: .8 miss; (.8,.9]: .9 hit.
    expected = (abs(1 - 0.6) + abs(1 - 0.7) + abs(0 - 0.8) + abs(1 - 0.9)) / 4
    assert calibration.ece(probs, labels, 10) == pytest.approx(expected, rel=1e-12)
    by_hand = ((0.1**2 + 0.1**2) + (0.8**2 + 0.8**2) + (0.4**2 + 0.4**2) + (0.3**2 + 0.3**2)) / 4
    assert calibration.brier(probs, labels) == pytest.approx(by_hand, rel=1e-12)


def test_in_loop_bin_sums_agree_with_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(300, 5)) * 2
    labels = rng.integers(0, 5, size=300)
    onehot = np.eye(5)[labels].astype(np.float32)
    bins = 15

    def chunk(rows):  # the validation pass's tensors of a chunk, as training/loop.py has them
        z, y = tf.constant(logits[rows], tf.float32), onehot[rows]
        probs = tf.nn.softmax(z)
        hits = tf.cast(tf.equal(tf.argmax(z, -1), tf.argmax(y, -1)), tf.float32)
        return calibration.bin_sums(probs, hits, tf.square(probs - y), bins)

    # Two chunks summed, then divided by n: what the validation pass does.
    sums = chunk(slice(0, 100)) + chunk(slice(100, 300))
    ece, conf, brier = calibration.scalars_from_sums(sums / 300, bins).numpy()
    probs = calibration.softmax(logits)
    assert ece == pytest.approx(calibration.ece(probs, labels, bins), abs=1e-5)
    assert brier == pytest.approx(calibration.brier(probs, labels), abs=1e-5)
    assert conf == pytest.approx(probs.max(-1).mean(), abs=1e-6)


def test_in_loop_bins_at_their_edges_and_a_nan_row():
    # Confidences exactly on bin edges (exact in float32): bin b holds ((b-1)/B, b/B].
    probs = np.array(
        [[0.5, 0.5, 0.0], [0.75, 0.25, 0.0], [1.0, 0.0, 0.0], [0.25, 0.375, 0.375]], np.float32
    )
    labels = np.array([1, 0, 0, 2])
    onehot = np.eye(3, dtype=np.float32)[labels]
    hits = (probs.argmax(-1) == labels).astype(np.float32)
    bins = 4
    sums = calibration.bin_sums(probs, hits, np.square(probs - onehot), bins).numpy()
    r = calibration.reliability(probs, labels, bins)
    gaps = np.nan_to_num(r["count"] * (r["confidence"] - r["accuracy"]))
    np.testing.assert_allclose(sums[1 : bins + 1], gaps, atol=1e-7)
    assert sums[0] == 0.0
    ece = calibration.scalars_from_sums(tf.constant(sums / 4), bins).numpy()[0]
    assert ece == pytest.approx(calibration.ece(probs, labels, bins), abs=1e-7)
    # A diverged epoch's NaN probabilities: NaN sums, no out-of-range bin error.
    nan = np.full([1, 3], np.nan, np.float32)
    got = calibration.bin_sums(nan, np.zeros([1], np.float32), nan, bins).numpy()
    assert np.isnan(got[-2:]).all()


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_temperature_scaling_recovers_a_known_temperature(true_t):
    rng = np.random.default_rng(2)
    base = rng.normal(size=(20000, 4)) * 3  # the calibrated logits
    cum = calibration.softmax(base).cumsum(-1)
    labels = (rng.random((20000, 1)) > cum).sum(-1)  # labels drawn from softmax(base)
    # Logits that are overconfident (T > 1) or underconfident (T < 1) by true_t.
    fitted = calibration.fit_temperature(base * true_t, labels)
    assert fitted == pytest.approx(true_t, rel=0.03)
    # Scaling back makes the test ECE small.
    assert calibration.ece(calibration.softmax(base * true_t, fitted), labels) < 0.02


def test_train_records_calibration_and_measures(tmp_path):
    from tests.conftest import read_metrics, read_scalars, run_train

    args = ["--epochs=5", "--sharpness_samples=2", "--sharpness_steps=3", "--progress=lines"]
    run_train(*args, f"--logdir={tmp_path}", "--run_name=r", check=0)
    m = read_metrics(tmp_path / "r")
    f = m["final"]
    for key in ("val_ece", "test_ece", "test_brier", "test_confidence", "temperature"):
        assert 0 <= f[key] < 10, key
    assert f["test_ece_ts"] >= 0 and f["test_nll_ts"] <= f["test_data_loss"] + 1e-6
    assert len(m["reliability"]["test"]["count"]) == 15
    assert sum(m["reliability"]["test"]["count"]) == 30  # iris: 150 rows, 20% test
    for key in ("dist_init", "log_prod_spectral", "path_norm", "margin_p10", "sharpness_sigma"):
        assert np.isfinite(m["measures"][key]), key
    # The validation pass's calibration in TensorBoard; its last epoch is the final weights'.
    val = read_scalars(tmp_path / "r" / "val")
    assert [s for s, _ in val["calibration/ece"]] == [1, 2, 3, 4, 5]
    assert val["calibration/ece"][-1][1] == pytest.approx(f["val_ece"], abs=1e-5)
    assert val["calibration/brier"][-1][1] == pytest.approx(f["val_brier"], abs=1e-5)
