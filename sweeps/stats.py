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


EXACT_UP_TO = 50  # nonzero differences; above, the normal approximation (as scipy switches)


def wilcoxon_p(differences):
    """Two-sided Wilcoxon signed-rank p-value of paired differences.

    Zero differences are dropped (zero_method="wilcox"); equal |differences| share their
    average rank (ties). With up to EXACT_UP_TO nonzero differences the p-value is exact given
    those ranks: every one of the 2^n sign patterns is equally likely under the null, and
    p = min(1, 2 min(P(W+ >= w), P(W+ <= w))), which is scipy.stats.wilcoxon with
    method=PermutationMethod(n_resamples=inf) (scipy's own default up to 13 differences).
    Above, scipy's normal approximation with its tie correction. 1.0 when every difference is
    zero, nan when there are none. Pass count-valued metrics as counts: equal differences are
    then equal exactly, where float32 rounding would break their tie.
    """
    d = np.asarray(differences, dtype=float)
    if not d.size:
        return math.nan
    d = d[d != 0]
    if not d.size:
        return 1.0
    if d.size > EXACT_UP_TO:
        with warnings.catch_warnings():  # the approximation is documented
            warnings.simplefilter("ignore")
            return float(scipy_stats.wilcoxon(d, method="asymptotic").pvalue)
    doubled = np.rint(2 * scipy_stats.rankdata(np.abs(d))).astype(np.int64)  # midranks: k/2
    # Number of sign patterns giving each value of 2 W+ (a subset sum over the doubled ranks).
    ways = np.zeros(int(doubled.sum()) + 1, dtype=np.int64)
    ways[0] = 1
    for r in doubled:
        ways[r:] = ways[r:] + ways[: ways.size - r].copy()
    w = int(doubled[d > 0].sum())
    total = float(2**d.size)
    upper, lower = ways[w:].sum() / total, ways[: w + 1].sum() / total
    return float(min(1.0, 2 * min(upper, lower)))


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


def paired(x_by_seed, y_by_seed, higher_is_better=True, examples=None):
    """Variant x against baseline y on the seeds both finished (seed s shares its split).

    Returns the seeds, mean difference x - y with its bootstrap CI, the probability of
    improvement over those seeds, and the Wilcoxon p-value (Holm comes later, over variants).
    With `examples` (n: the values are counts / n), the test and P(improvement) take the
    counts, so that equal differences tie exactly; the differences are count differences / n.
    """
    seeds = sorted(set(x_by_seed) & set(y_by_seed))
    x = np.array([x_by_seed[s] for s in seeds], dtype=float)
    y = np.array([y_by_seed[s] for s in seeds], dtype=float)
    if examples:
        x, y = np.rint(x * examples), np.rint(y * examples)  # the counts, exactly
    d = x - y
    scale = examples or 1
    low, high = bootstrap_ci(d / scale)
    return {
        "seeds": seeds,
        "n_pairs": len(seeds),
        "diff_mean": float((d / scale).mean()) if d.size else math.nan,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "prob_improvement": probability_of_improvement(x, y, higher_is_better),
        "p_value": wilcoxon_p(d),
    }
