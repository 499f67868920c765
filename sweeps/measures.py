"""The report's calibration and generalization-measure sections (docs/measures.md): per-variant
tables, each measure's rank correlation (Kendall tau) with the generalization gap over all runs,
and the reliability diagrams of the variants side by side."""

import math
import os

import numpy as np
import scipy.stats

CALIBRATION = (
    ("test_ece", "test ECE"),
    ("test_ece_ts", "test ECE after T"),
    ("test_brier", "test Brier"),
    ("test_confidence", "confidence"),
    ("test_accuracy", "test accuracy"),
    ("temperature", "T (fit on val)"),
)
# metrics.json "measures" keys, their names, and the sign of tau expected when the measure
# predicts the gap (Jiang et al. 2020): a larger norm, a smaller margin or a sharper minimum
# goes with a larger gap.
MEASURES = (
    ("dist_init", "distance from init", "+"),
    ("log_prod_spectral", "log prod spectral norms", "+"),
    ("spectral_complexity", "spectral complexity", "+"),
    ("path_norm", "path norm", "+"),
    ("margin_p10", "margin (10th pct)", "−"),
    ("margin_normalized", "margin / spectral complexity", "−"),
    ("sharpness_sigma", "sharpness sigma", "−"),
)
GAPS = (
    ("loss gap", lambda m: m["final"].get("generalization_gap")),
    ("error gap", lambda m: _error_gap(m)),
)
MIN_RUNS = 4  # fewer runs make Kendall's tau meaningless


def _error_gap(m):
    train = m.get("measures", {}).get("train_accuracy_eval")
    test = m["final"].get("test_accuracy")
    return None if train is None or test is None else train - test


def _finished(by_variant):
    return [r for runs in by_variant.values() for r in runs if r.finished]


def _mean(values):
    values = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def _fmt(v):
    return "–" if v is None else f"{v:.4g}"


def calibration_table(variants, by_variant):
    """Per variant: means over seeds of the test split's calibration, or [] without any."""
    done = _finished(by_variant)
    if not any("test_ece" in r.metrics.get("final", {}) for r in done):
        return []
    head = " | ".join(name for _, name in CALIBRATION)
    lines = ["## Calibration (test split, means over seeds)", "", f"| variant | runs | {head} |"]
    lines.append("|---|---:|" + "---:|" * len(CALIBRATION))
    for v in variants:
        runs = [r for r in by_variant[v["variant"]] if r.finished]
        cells = [_fmt(_mean([r.metrics["final"].get(k) for r in runs])) for k, _ in CALIBRATION]
        lines.append(f"| {v['label']} | {len(runs)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"ECE: top-label, {_bins(done)} equal-width bins; T: one temperature per run, fit on the "
        "validation split by NLL, applied to the test split (docs/measures.md). "
        "`report.py --metric=test_ece` gives the paired comparison (lower is better).",
        "",
    ]
    return lines


def _bins(done):
    bins = {r.metrics.get("reliability", {}).get("bins") for r in done} - {None}
    return ", ".join(str(b) for b in sorted(bins)) or "?"


def measures_table(variants, by_variant):
    """Per variant: means over seeds of each generalization measure and the gaps."""
    done = _finished(by_variant)
    present = [m for m in MEASURES if any(m[0] in r.metrics.get("measures", {}) for r in done)]
    if not present:
        return []
    head = " | ".join(name for _, name, _ in present) + " | " + " | ".join(g for g, _ in GAPS)
    lines = ["## Generalization measures (means over seeds)", "", f"| variant | {head} |"]
    lines.append("|---|" + "---:|" * (len(present) + len(GAPS)))
    for v in variants:
        runs = [r for r in by_variant[v["variant"]] if r.finished]
        cells = [
            _fmt(_mean([r.metrics.get("measures", {}).get(k) for r in runs])) for k, *_ in present
        ]
        cells += [_fmt(_mean([gap(r.metrics) for r in runs])) for _, gap in GAPS]
        lines.append(f"| {v['label']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Loss gap: validation minus training data loss of the final weights (metrics.json "
        "final.generalization_gap). Error gap: training accuracy (inference mode, whole training "
        "split) minus test accuracy. Definitions and references: docs/measures.md.",
        "",
    ]
    return lines


def kendall_rows(by_variant):
    """[(measure name, expected sign, {gap: (tau, p, n)})] over every finished run."""
    done = _finished(by_variant)
    rows = []
    for key, name, sign in MEASURES:
        by_gap = {}
        for gap_name, gap in GAPS:
            pairs = [(r.metrics.get("measures", {}).get(key), gap(r.metrics)) for r in done]
            pairs = [(a, b) for a, b in pairs if _finite(a) and _finite(b)]
            if len(pairs) >= MIN_RUNS:
                x, y = np.array(pairs).T
                tau, p = scipy.stats.kendalltau(x, y)
                if math.isfinite(tau):  # nan: the measure (or gap) is constant over the runs
                    by_gap[gap_name] = (float(tau), float(p), len(pairs))
        if by_gap:
            rows.append((name, sign, by_gap))
    return rows


def _finite(v):
    return isinstance(v, int | float) and math.isfinite(v)


def kendall_table(by_variant):
    rows = kendall_rows(by_variant)
    if not rows:
        return []
    head = " | ".join(f"τ with {g} | p | runs" for g, _ in GAPS)
    lines = [
        "## Which measure tracks the generalization gap (Kendall τ over all runs)",
        "",
        f"| measure | expected sign | {head} |",
        "|---|:---:|" + "---:|---:|---:|" * len(GAPS),
    ]
    for name, sign, by_gap in rows:
        cells = []
        for g, _ in GAPS:
            tau, p, n = by_gap.get(g, (None, None, 0))
            cells += [_fmt(tau), _fmt(p), str(n)]
        lines.append(f"| {name} | {sign} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "τ: scipy.stats.kendalltau (τ-b) of the measure against the gap over every finished run "
        "of the sweep (all variants and seeds pooled), p its two-sided p-value. A measure that "
        "predicts generalization has τ of the expected sign; runs of one variant differ only by "
        "seed, so τ mixes the effect of the regularizers with seed noise.",
        "",
    ]
    return lines


def section(variants, by_variant, figure=None):
    """The report's calibration and measures sections as markdown lines."""
    lines = calibration_table(variants, by_variant)
    if figure:
        lines += [f"![reliability diagrams](./{os.path.basename(figure)})", ""]
    return lines + measures_table(variants, by_variant) + kendall_table(by_variant)


def pooled_reliability(runs, split="test"):
    """{count, confidence, accuracy} per bin, pooled over the runs (count-weighted)."""
    tables = [r.metrics.get("reliability", {}).get(split) for r in runs if r.finished]
    tables = [t for t in tables if t]
    if not tables or len({len(t["count"]) for t in tables}) != 1:
        return None
    count = np.sum([t["count"] for t in tables], 0).astype(float)

    def pooled(key):
        values = [np.nan_to_num(np.array(t[key], dtype=float)) * t["count"] for t in tables]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(values, 0) / count

    return {
        "count": count.astype(int),
        "confidence": pooled("confidence"),
        "accuracy": pooled("accuracy"),
    }


def reliability_figure(variants, by_variant, path, split="test"):
    """The variants' reliability diagrams side by side; False when no run has bins."""
    tables = [(v["label"], pooled_reliability(by_variant[v["variant"]], split)) for v in variants]
    tables = [(label, t) for label, t in tables if t is not None]
    if not tables:
        return False
    from sweeps import plots  # matplotlib, headless

    plt = plots.plt
    cols = min(len(tables), 4)
    rows = -(-len(tables) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 3.4 * rows), dpi=plots.DPI, squeeze=False
    )
    for ax, (label, t) in zip(axes.flat, tables, strict=False):
        bins = len(t["count"])
        edges = np.linspace(0, 1, bins + 1)
        filled = t["count"] > 0
        ax.bar(
            edges[:-1][filled],
            t["accuracy"][filled],
            width=1 / bins,
            align="edge",
            color="tab:blue",
            edgecolor="white",
            label="accuracy",
        )
        ax.plot([0, 1], [0, 1], color="0.4", linestyle="--", linewidth=1)
        # Guo et al.'s gap: from the bin's accuracy to its mean confidence (over: above the bar).
        ax.bar(
            edges[:-1][filled],
            t["confidence"][filled] - t["accuracy"][filled],
            bottom=t["accuracy"][filled],
            width=1 / bins,
            align="edge",
            color="tab:red",
            alpha=0.35,
            edgecolor="tab:red",
            hatch="//",
            label="gap to mean confidence",
        )
        for left, n, acc in zip(
            edges[:-1][filled], t["count"][filled], t["accuracy"][filled], strict=True
        ):  # white on a bar tall enough to hold the number, black above a short one
            tall = acc > 0.15
            ax.text(
                left + 0.5 / bins,
                0.02 if tall else acc + 0.02,
                str(n),
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90,
                color="white" if tall else "black",
            )
        ax.set(xlim=(0, 1), ylim=(0, 1), title=label[:40], xlabel="confidence")
        ax.title.set_fontsize(8)
    for ax in list(axes.flat)[len(tables) :]:
        ax.axis("off")
    axes.flat[0].set_ylabel("accuracy in bin")
    axes.flat[0].legend(fontsize=6, loc="upper left")
    fig.suptitle(
        f"reliability, {split} split, pooled over seeds (numbers: examples per bin)", fontsize=9
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (3.4 * rows)))  # the title above the panels
    fig.savefig(path)
    plt.close(fig)
    return True
