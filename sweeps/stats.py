"""Statistics over seeds: bootstrap CIs, paired comparisons, Wilcoxon tests with Holm's correction.

With a handful of seeds, the report must say how far apart two variants are beyond seed noise:
a percentile-bootstrap CI of a mean (fixed resampling seed: the report is reproducible), the
probability of improvement as rliable defines it, and a paired Wilcoxon signed-rank test whose
p-values are Holm-adjusted over the variants compared.
"""

import math
import warnings

import numpy as np
from scipy import stats as scipy_stats

RESAMPLES = 10_000
RESAMPLE_SEED = 0
LEVEL = 0.95
ALPHA = 0.05


def bootstrap_ci(values, resamples=RESAMPLES, seed=RESAMPLE_SEED, level=LEVEL):
    """Percentile bootstrap CI of the mean: (low, high); (nan, nan) for fewer than 2 values.

    Resamples with np.random.default_rng(seed).integers(0, n, (resamples, n)), so the interval
    is reproducible and can be recomputed by hand.
    """
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (resamples, x.size))].mean(axis=1)
    low, high = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def describe(values):
    """n, mean, sample standard deviation (ddof=1; nan under 2 values) and the bootstrap CI."""
    x = np.asarray(values, dtype=float)
    low, high = bootstrap_ci(x)
    return {
        "n": int(x.size),
        "mean": float(x.mean()) if x.size else math.nan,
        "std": float(x.std(ddof=1)) if x.size > 1 else math.nan,
        "ci_low": low,
        "ci_high": high,
    }


def probability_of_improvement(x, y, higher_is_better=True):
    """rliable's probability of improvement P(X > Y) (Agarwal et al. 2021): the mean over all
    pairs (i, j) of 1[x_i better than y_j] + ½·1[x_i = y_j], the Mann-Whitney U over m·n.

    nan if either is empty.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not x.size or not y.size:
        return math.nan
    diff = x[:, None] - y[None, :]
    better = diff > 0 if higher_is_better else diff < 0
    return float(np.mean(better + 0.5 * (diff == 0)))


def wilcoxon_p(differences):
    """Two-sided Wilcoxon signed-rank p-value of paired differences; zero differences dropped.

    1.0 when every difference is zero (no evidence of a difference: scipy would divide by
    zero), nan when there are none. Exact for small samples without ties (scipy's default).
    """
    # Rounding makes differences equal in exact arithmetic (e.g. two one-example accuracy
    # gaps, 1/30 apart in float32) tie as they should.
    d = np.round(np.asarray(differences, dtype=float), 12)
    if not d.size:
        return math.nan
    if not np.any(d):
        return 1.0
    with warnings.catch_warnings():  # small-sample and tie notes: the method is documented
        warnings.simplefilter("ignore")
        return float(scipy_stats.wilcoxon(d, zero_method="wilcox").pvalue)


def holm(p_values):
    """Holm-Bonferroni adjusted p-values, in the input order; nan entries stay nan, uncounted.

    The i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) · p_(j)).
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        adjusted[i] = running
    return [float(v) for v in adjusted]


def smallest_p(n):
    """The smallest two-sided exact Wilcoxon p-value with n nonzero paired differences."""
    return min(1.0, 2.0 / 2**n) if n else math.nan


def paired(x_by_seed, y_by_seed, higher_is_better=True):
    """Variant x against baseline y on the seeds both finished (seed s shares its split).

    Returns the seeds, mean difference x - y with its bootstrap CI, the probability of
    improvement over those seeds, and the Wilcoxon p-value (Holm comes later, over variants).
    """
    seeds = sorted(set(x_by_seed) & set(y_by_seed))
    x = np.array([x_by_seed[s] for s in seeds], dtype=float)
    y = np.array([y_by_seed[s] for s in seeds], dtype=float)
    d = x - y
    low, high = bootstrap_ci(d)
    return {
        "seeds": seeds,
        "n_pairs": len(seeds),
        "diff_mean": float(d.mean()) if d.size else math.nan,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "prob_improvement": probability_of_improvement(x, y, higher_is_better),
        "p_value": wilcoxon_p(d),
    }
