"""Calibration of predicted probabilities: ECE, Brier score, reliability bins, temperature.

Top-label calibration (Guo et al. 2017): each example's confidence is its largest softmax
probability; examples fall into equal-width confidence bins over [0, 1] (bin b holds confidences
in (b/B, (b+1)/B], the first bin also 0); ECE = sum over bins of (bin size / n) *
|accuracy in bin - mean confidence in bin|. The Brier score is the multi-class one (Brier 1950):
the mean over examples of sum over classes (p_k - y_k)^2, in [0, 2].

`bin_sums` runs inside the compiled loop on the validation pass (sums, so chunks add up), in as
few ops as it can: bin b's size-weighted gap is |sum over its examples of (confidence - hit)| / n,
so the loop needs one sum per bin, not three. The rest is NumPy, run once at the end of a run.
"""

import numpy as np
import scipy.optimize
import scipy.special
import tensorflow as tf

# Temperature search interval (log space): T in [1e-2, 1e2] covers any useful rescaling.
LOG_T_BOUNDS = (np.log(1e-2), np.log(1e2))


def bin_sums(probs, hits, squared_error, bins):
    """A chunk's sums, one float32 vector: per bin, sum of (confidence - hit) over its examples
    (bins + 1 entries: 0 holds a confidence of exactly 0, which a top-label confidence >= 1 /
    classes never is, then bins 1..B), the confidence sum and the Brier sum. Divide by n for
    means. From what the validation pass has already computed: softmax `probs`, per-example
    `hits` (0/1) and `squared_error`, the elementwise (probs - one-hot)^2."""
    conf = tf.reduce_max(probs, -1)
    # ceil: bin b holds (b-1)/B < c <= b/B. A NaN confidence (a diverged epoch) casts to an
    # arbitrary integer: minimum keeps it in range, and unsorted_segment_sum drops negatives.
    index = tf.minimum(tf.cast(tf.math.ceil(conf * bins), tf.int32), bins)
    gaps = tf.math.unsorted_segment_sum(conf - hits, index, bins + 1)
    totals = tf.stack([tf.reduce_sum(conf), tf.reduce_sum(squared_error)])
    return tf.concat([gaps, totals], 0)


def sums_width(bins):
    """The length of bin_sums's vector: bins + 1 gap sums, then the confidence and Brier sums."""
    return bins + 3


def scalars_from_sums(means, bins):
    """[ECE, mean confidence, Brier] (the order of TAGS) from bin_sums divided by n."""
    ece = tf.reduce_sum(tf.abs(means[: bins + 1]))
    return tf.concat([ece[None], means[bins + 1 :]], 0)


# TensorBoard tags of scalars_from_sums, under val/ (inspection/epoch_summaries.py writes them).
TAGS = ["calibration/ece", "calibration/confidence", "calibration/brier"]


def softmax(logits, temperature=1.0):
    return scipy.special.softmax(np.asarray(logits, np.float64) / temperature, axis=-1)


def reliability(probs, labels, bins=15):
    """{count, confidence, accuracy} per equal-width bin (confidence/accuracy NaN where empty)."""
    probs = np.asarray(probs, np.float64)
    conf = probs.max(-1)
    hit = (probs.argmax(-1) == np.asarray(labels)).astype(np.float64)
    index = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, conf, bins) / count
        accuracy = np.bincount(index, hit, bins) / count
    return {"count": count.astype(int), "confidence": mean_conf, "accuracy": accuracy}


def ece(probs, labels, bins=15):
    """Expected calibration error, top-label, equal-width bins."""
    r = reliability(probs, labels, bins)
    n = r["count"].sum()
    filled = r["count"] > 0
    gaps = np.abs(r["accuracy"][filled] - r["confidence"][filled])
    return float(np.sum(r["count"][filled] / n * gaps))


def brier(probs, labels):
    """Multi-class Brier score: mean over examples of sum over classes (p_k - y_k)^2."""
    probs = np.asarray(probs, np.float64)
    onehot = np.eye(probs.shape[-1])[np.asarray(labels)]
    return float(np.mean(np.sum((probs - onehot) ** 2, -1)))


def nll(logits, labels, temperature=1.0):
    """Mean cross-entropy of softmax(logits / temperature)."""
    z = np.asarray(logits, np.float64) / temperature
    logp = z - scipy.special.logsumexp(z, axis=-1, keepdims=True)
    return float(-np.mean(logp[np.arange(len(z)), np.asarray(labels)]))


def fit_temperature(logits, labels):
    """The temperature T > 0 minimizing the NLL of softmax(logits / T) (Guo et al. 2017),
    by a bounded scalar search over log T: deterministic, no seed."""
    found = scipy.optimize.minimize_scalar(
        lambda log_t: nll(logits, labels, np.exp(log_t)),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-8},
    )
    return float(np.exp(found.x))


def summary(logits, labels, bins=15, temperature=1.0):
    """{ece, brier, nll, confidence} of softmax(logits / temperature)."""
    probs = softmax(logits, temperature)
    return {
        "ece": ece(probs, labels, bins),
        "brier": brier(probs, labels),
        "nll": nll(logits, labels, temperature),
        "confidence": float(np.mean(probs.max(-1))),
    }


def report(val_logits, val_labels, test_logits, test_labels, bins):
    """What metrics.json records: final-metric entries and the reliability bins of each split.

    The temperature is fit on the validation split, then applied to the test split (under the
    tutorial's protocol, validation is the test split, and the fit sees test labels)."""
    final = {}
    val = summary(val_logits, val_labels, bins)
    final.update({f"val_{k}": v for k, v in val.items() if k != "nll"})
    t = fit_temperature(val_logits, val_labels)
    final["temperature"] = t
    tables = {"val": reliability(softmax(val_logits), val_labels, bins)}
    if test_logits is not None:
        test = summary(test_logits, test_labels, bins)
        final.update({f"test_{k}": v for k, v in test.items() if k != "nll"})
        scaled = summary(test_logits, test_labels, bins, t)
        final.update({f"test_{k}_ts": v for k, v in scaled.items()})
        tables["test"] = reliability(softmax(test_logits), test_labels, bins)
        tables["test_ts"] = reliability(softmax(test_logits, t), test_labels, bins)
    return final, {"bins": bins, **{split: _json(r) for split, r in tables.items()}}


def _json(table):
    """A reliability table as JSON lists: counts as integers, an empty bin's means as null."""
    means = {
        k: [None if np.isnan(x) else float(x) for x in table[k]] for k in ("confidence", "accuracy")
    }
    return {"count": [int(c) for c in table["count"]], **means}
