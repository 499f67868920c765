"""The report's figures: the metric per variant with CIs, curves of all variants, grid paths."""

import math
import os
import re
import warnings

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sweeps import results  # noqa: E402

DPI = 100
WIDTH = 10  # inches; at DPI, 1000 pixels


def _colors(n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20" if n <= 20 else "viridis")
    return [cmap(i if n <= 20 else i / max(1, n - 1)) for i in range(n)]


def _limits(metric, lows, highs):
    """An axis that does not exaggerate: 0-100 % for accuracy; otherwise every value and CI bar
    in full, and 0 too when nothing is negative."""
    if results.is_fraction(metric):
        return 0.0, 100.0
    values = [v for v in [*lows, *highs] if math.isfinite(v)] or [0.0]
    lo, hi = min(values), max(values)
    if lo >= 0:
        lo = 0.0
    pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 1.0
    return lo - (pad if lo < 0 else 0), hi + pad


def _scale(metric):
    return 100.0 if results.is_fraction(metric) else 1.0


def _axis_label(metric):
    return f"{metric} %" if results.is_fraction(metric) else metric


def metric_per_variant(rows, metric, baseline, path):
    """Mean over seeds with its 95% bootstrap CI, and every seed's value, per variant."""
    rows = [r for r in rows if r["n"]]
    k = _scale(metric)
    height = max(3.0, 0.45 * len(rows) + 1.5)
    fig, ax = plt.subplots(figsize=(WIDTH, height), dpi=DPI)
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows, strict=True):
        seeds = np.array(list(r["values"].values())) * k
        jitter = np.linspace(-0.15, 0.15, len(seeds)) if len(seeds) > 1 else np.zeros(1)
        ax.scatter(seeds, yi + jitter, s=12, color="0.6", zorder=2, clip_on=False)
        low, high = r["ci_low"] * k, r["ci_high"] * k
        xerr = [[r["mean"] * k - low], [high - r["mean"] * k]] if math.isfinite(low) else None
        ax.errorbar(
            r["mean"] * k,
            yi,
            xerr=xerr,
            fmt="o",
            color="tab:red" if r["variant"] == baseline else "tab:blue",
            capsize=4,
            zorder=3,
            clip_on=False,
        )
    lows = [min(r["ci_low"], *r["values"].values()) * k for r in rows]
    highs = [max(r["ci_high"], *r["values"].values()) * k for r in rows]
    ax.set_xlim(*_limits(metric, lows, highs))
    ax.set_yticks(y, [r["label"] for r in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"{_axis_label(metric)} (mean, 95% bootstrap CI; grey: one seed each)")
    ax.set_title(f"{metric} per variant (red: the baseline)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _padded(histories):
    """Seeds x epochs, NaN-padded: variants may train for different numbers of epochs."""
    length = max(len(h) for h in histories)
    return np.array([list(h) + [math.nan] * (length - len(h)) for h in histories], dtype=float)


def curves(variants, by_variant, key, path):
    """One history value (e.g. val_accuracy) of every variant: mean over seeds, ±1 std band."""
    fig, ax = plt.subplots(figsize=(WIDTH, 5), dpi=DPI)
    colors = _colors(len(variants))
    drawn = 0
    for v, color in zip(variants, colors, strict=True):
        hist = [
            r.metrics["history"][key]
            for r in by_variant[v["variant"]]
            if r.finished and key in r.metrics.get("history", {})
        ]
        if not hist:
            continue
        h = _padded(hist)
        if np.isnan(h).all():
            continue
        epochs = np.arange(1, h.shape[1] + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN epochs of shorter runs
            mean, std = np.nanmean(h, 0), np.nanstd(h, 0)
        ax.plot(epochs, mean, color=color, label=f"{v['label']} ({len(hist)})")
        ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
        drawn += 1
    if drawn:
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(f"{key}: mean over seeds per variant (band: ±1 std; legend: seeds)")
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(path)
    plt.close(fig)
    return bool(drawn)


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _path_series(flag, variants, rows):
    """{line name: [(x, row)]}: one line per config and values of the other grid flags."""
    by_name = {r["variant"]: r for r in rows}
    lines = {}
    for v in variants:
        x = _number(v["grid"].get(flag))
        if x is None:
            return {}
        stem = os.path.splitext(os.path.basename(v.get("flagfile", v["variant"])))[0]
        others = [f"{k}={val}" for k, val in v["grid"].items() if k != flag]
        lines.setdefault(", ".join([stem, *others]), []).append((x, by_name[v["variant"]]))
    return {name: sorted(points, key=lambda p: p[0]) for name, points in lines.items()}


def regularization_path(flag, metric, variants, rows, path):
    """The metric, and sparsity and L2 norm of the regularized layers, against a grid flag.

    Log x axis when the positive values span a factor 10 or more; 0 then sits at the left
    edge (a tenth of the smallest positive value) as a hollow marker, joined by a dotted line.
    Bands: 95% bootstrap CIs over seeds. Returns False (no figure) for non-numeric values.
    """
    series = _path_series(flag, variants, rows)
    xs = sorted({x for points in series.values() for x, _ in points})
    if len(xs) < 2 or min(xs) < 0:
        return False
    positive = [x for x in xs if x > 0]
    log = len(positive) >= 2 and max(positive) / min(positive) >= 10
    zero_at = min(positive) / 10 if log and positive else 0.0
    panels = (
        (metric, "", _scale(metric)),
        ("sparsity of reg. layers", "reg_layers_sparsity_", 1.0),
        ("L2 norm of reg. layers", "reg_layers_l2_norm_", 1.0),
    )
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH + 5, 4.5), dpi=DPI)
    for (title, prefix, k), ax in zip(panels, axes, strict=True):
        lows, highs = [], []
        for (name, points), color in zip(series.items(), _colors(len(series)), strict=True):
            x = np.array([p[0] if p[0] > 0 or not log else zero_at for p in points])
            mean = np.array([p[1][f"{prefix}mean"] for p in points]) * k
            low = np.array([p[1][f"{prefix}ci_low"] for p in points]) * k
            high = np.array([p[1][f"{prefix}ci_high"] for p in points]) * k
            zero = np.array([p[0] == 0 for p in points]) & log
            ax.plot(x[~zero], mean[~zero], "o-", color=color, label=name)
            if zero.any():
                ax.plot(x[zero], mean[zero], "o", mfc="none", color=color)
                ax.plot(x[: np.argmin(zero) + 1], mean[: np.argmin(zero) + 1], ":", color=color)
            ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
            lows += [*low, *mean]
            highs += [*high, *mean]
        if log:
            ax.set_xscale("log")
            if zero_at:
                ticks = [zero_at, *positive]
                ax.set_xticks(ticks, ["0", *[f"{t:g}" for t in positive]])
                ax.minorticks_off()
        ax.set_ylim(*_limits(prefix or metric, lows, highs))
        ax.set_title(title)
        note = (
            " (log; 0 at the left edge, hollow)" if log and zero_at else (" (log)" if log else "")
        )
        ax.set_xlabel(f"--{flag}{note}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(_axis_label(metric) + " (95% CI band)")
    axes[-1].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(f"Regularization path over --{flag} (mean over seeds)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _safe(name):
    return re.sub(r"[^A-Za-z0-9._+-]", "-", name)


def write_all(out_dir, variants, by_variant, rows, metric, baseline, grid_flags):
    """Writes every figure into out_dir; returns their paths."""
    paths = [os.path.join(out_dir, f"{_safe(metric)}.png")]
    metric_per_variant(rows, metric, baseline, paths[-1])
    done = [r for runs in by_variant.values() for r in runs if r.finished]
    keys = sorted({k for r in done for k in r.metrics.get("history", {})})
    for key in keys:
        path = os.path.join(out_dir, f"curves_{_safe(key)}.png")
        if curves(variants, by_variant, key, path):
            paths.append(path)
    for flag in grid_flags:
        path = os.path.join(out_dir, f"path_{_safe(flag)}.png")
        if regularization_path(flag, metric, variants, rows, path):
            paths.append(path)
    return paths
