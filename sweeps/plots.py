"""The report's figures: the metric per variant with CIs, curves of all variants, grid paths."""

import math
import os
import re

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402

from sweeps import results  # noqa: E402

DPI = 100
LEGEND_RIGHT = 8  # curves: legend entries beside the plot; more go under it
WIDTH = 10  # inches; at DPI, 1000 pixels


def _colors(n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20" if n <= 20 else "viridis")
    return [cmap(i if n <= 20 else i / max(1, n - 1)) for i in range(n)]


def _line_styles(n):
    """(color, line style) of n lines: tab10's colors, then the same colors dashed, dotted, ...
    (neighbours in tab20 or a colormap are too alike to tell two curves apart)."""
    cmap, dashes = plt.get_cmap("tab10"), ["-", "--", ":", "-."]
    return [(cmap(i % 10), dashes[i // 10 % len(dashes)]) for i in range(n)]


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


def curve_series(histories):
    """(epochs, mean, band, stops) of one variant's runs: mean and band only over the epochs
    every run reached (a mean over the seeds still running would jump as they stop). band:
    (low, high), mean ± 1 std kept within the seeds' own range (a fraction's band never dips
    below 0). stops: each run's (last epoch, last value)."""
    histories = [np.asarray(h, dtype=float) for h in histories if len(h)]
    if not histories:
        return np.zeros(0), np.zeros(0), (np.zeros(0), np.zeros(0)), []
    common = min(len(h) for h in histories)
    h = np.array([x[:common] for x in histories])
    stops = [(len(x), float(x[-1])) for x in histories]
    mean, std = h.mean(0), h.std(0)
    band = (np.maximum(mean - std, h.min(0)), np.minimum(mean + std, h.max(0)))
    return np.arange(1, common + 1), mean, band, stops


def _histories(by_variant, variant, key):
    return [
        r.metrics["history"][key]
        for r in by_variant[variant]
        if r.finished and key in r.metrics.get("history", {})
    ]


def says_something(histories):
    """False for a curve that is flat in every run (a constant learning rate, a zero penalty)."""
    values = [np.asarray(h, dtype=float) for h in histories if len(h)]
    values = [v[np.isfinite(v)] for v in values]
    return any(v.size and np.ptp(v) > 0 for v in values)


def curve_keys(by_variant):
    """The history keys worth a figure: not flat everywhere, and not a copy of an earlier key
    (a penalty equal to the total penalty in every run)."""
    done = [r for runs in by_variant.values() for r in runs if r.finished]
    keys = sorted({k for r in done for k in r.metrics.get("history", {})})
    kept, seen = [], set()
    for key in keys:
        # A run without the key (no such penalty) counts as zeros: penalty_l1 of an L1 variant
        # beside an unregularized one is the same figure as their total step penalty.
        hist = [
            r.metrics["history"].get(key) or [0.0] * r.metrics.get("epochs_completed", 0)
            for r in done
        ]
        signature = repr(hist)
        if signature in seen or not says_something(hist):
            continue
        seen.add(signature)
        kept.append(key)
    return kept


def _log_scale(ax, key, values):
    """Penalties span decades: log when every value is positive, else symlog."""
    if not re.search("penalty|norm", key):
        return ""
    v = np.abs(np.concatenate([np.ravel(x) for x in values]))
    v = v[np.isfinite(v)]
    if v.size and v.min() > 0:
        ax.set_yscale("log")
        # Under two decades the powers of ten alone are two or three labels: label 2x and 5x.
        ax.yaxis.set_minor_formatter(ticker.LogFormatterSciNotation(minor_thresholds=(2, 0.5)))
        return " (log scale)"
    if (v > 0).any():
        ax.set_yscale("symlog", linthresh=float(v[v > 0].min()))
        return " (symlog scale: linear below the smallest nonzero value)"
    return ""


def curves(variants, by_variant, key, path, baseline=None):
    """One history value (e.g. val_accuracy) of every variant: the mean over its seeds while all
    of them run, ±1 std band, and an x at each run's last epoch. Variants with identical curves
    share one line and legend entry; the baseline is drawn on top."""
    fig, ax = plt.subplots(figsize=(WIDTH, 5), dpi=DPI)
    groups = {}  # curve data -> [variant], so identical curves are one line
    for v in variants:
        hist = _histories(by_variant, v["variant"], key)
        if hist:
            groups.setdefault(repr(hist), []).append(v)
    styles = dict(zip(groups, _line_styles(len(groups)), strict=True))
    drawn = []
    for sig, members in groups.items():
        hist = _histories(by_variant, members[0]["variant"], key)
        epochs, mean, (low, high), stops = curve_series(hist)
        if not np.isfinite(mean).any():
            continue
        base = any(m["variant"] == baseline for m in members)
        z = 3 if base else 2
        names = " = ".join(m["label"] for m in members)
        first, last = min(e for e, _ in stops), max(e for e, _ in stops)
        span = f"stop {first}" if first == last else f"stops {first}–{last}"
        color, dash = styles[sig]
        ax.plot(
            epochs,
            mean,
            color=color,
            ls=dash,
            lw=2.2 if base else 1.4,
            zorder=z,
            label=f"{names}{' (baseline)' if base else ''} ({len(hist)} seeds; {span})",
        )
        ax.fill_between(epochs, low, high, color=color, alpha=0.15, lw=0)
        for h in hist:  # each seed on from where the mean ends, faint: one run, not a mean
            if len(h) > len(epochs):
                tail = np.arange(len(epochs), len(h) + 1)
                ax.plot(tail, h[len(epochs) - 1 :], color=color, ls=dash, lw=0.7, alpha=0.4)
        ax.scatter(
            [e for e, _ in stops],
            [v for _, v in stops],
            marker="x",
            s=18,
            color=color,
            zorder=z,
        )
        drawn.append(mean)
    if drawn:
        note = _log_scale(ax, key, drawn)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key + ("\n" + note.strip() if note else ""))  # the note on its own line
        # A figure title: centred on the axes, a long key would run past the figure's edge.
        fig.suptitle(
            f"{key}: mean over seeds while all run (band: ±1 std within the seeds' range),\n"
            "then each run faint to its last epoch (x)",
            fontsize="medium",
        )
        if len(drawn) <= LEGEND_RIGHT:
            ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:  # a long legend beside the plot would squeeze it: two columns under it
            rows = -(-len(drawn) // 2)
            fig.set_size_inches(WIDTH, 5 + 0.2 * rows)
            ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
        fig.tight_layout()
        fig.savefig(path)
    plt.close(fig)
    return bool(drawn)


def forest(paired, metric, baseline_label, path):
    """Each variant's mean paired difference from the baseline with its 95% CI, zero marked;
    filled: significant after Holm's correction, hollow: not."""
    rows = [c for c in paired if c["n_pairs"] and math.isfinite(c["diff_mean"])]
    if not rows:
        return False
    k = _scale(metric)
    fig, ax = plt.subplots(figsize=(WIDTH, max(3.0, 0.45 * len(rows) + 1.5)), dpi=DPI)
    y = np.arange(len(rows))[::-1]
    for yi, c in zip(y, rows, strict=True):
        low, high = c["diff_ci_low"] * k, c["diff_ci_high"] * k
        mean = c["diff_mean"] * k
        color = "tab:red" if c["significant"] else "tab:blue"
        xerr = [[mean - low], [high - mean]] if math.isfinite(low) else None
        ax.errorbar(
            mean,
            yi,
            xerr=xerr,
            fmt="o",
            color=color,
            capsize=4,
            mfc=color if c["significant"] else "white",
            zorder=3,
        )
    ax.axvline(0, color="0.3", lw=1, zorder=1)
    ax.set_yticks(y, [c["label"] for c in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    unit = " (points)" if results.is_fraction(metric) else ""
    ax.set_xlabel(f"{metric}: variant − baseline{unit}, mean over paired seeds, 95% bootstrap CI")
    ax.set_title(
        f"Paired difference from the baseline ({baseline_label}); "
        "red, filled: significant (Holm p < 0.05)",
        fontsize="medium",
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


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
        if flag not in v["grid"]:
            continue  # a config without this grid (e.g. another regularizer's)
        x = _number(v["grid"].get(flag))
        if x is None:
            return {}
        stem = os.path.splitext(os.path.basename(v.get("flagfile", v["variant"])))[0]
        others = [f"{k}={val}" for k, val in v["grid"].items() if k != flag]
        lines.setdefault(", ".join([stem, *others]), []).append((x, by_name[v["variant"]]))
    return {name: sorted(points, key=lambda p: p[0]) for name, points in lines.items()}


def path_layout(flag, variants, rows, baseline=None):
    """(series, baseline row drawn at 0 or None, positive x values, log axis, x of the 0 slot
    (0.0: none)) of a regularization path, or None when the grid draws no path."""
    series = _path_series(flag, variants, rows)
    xs = sorted({x for points in series.values() for x, _ in points})
    if len(xs) < 2 or min(xs) < 0:
        return None
    in_series = {p[1]["variant"] for points in series.values() for p in points}
    base = None
    if 0 not in xs and baseline is not None and baseline not in in_series:
        base = next((r for r in rows if r["variant"] == baseline), None)
    positive = [x for x in xs if x > 0]
    log = len(positive) >= 2 and max(positive) / min(positive) >= 10
    zero_at = min(positive) / 10 if log and (0 in xs or base) else 0.0
    return series, base, positive, log, zero_at


def regularization_path(flag, metric, variants, rows, path, baseline=None):
    """The metric, and sparsity and L2 norm of the regularized layers, against a grid flag.

    Log x axis when the positive values span a factor 10 or more; 0 then sits at the left
    edge (a tenth of the smallest positive value) as a hollow marker, joined by a dotted line.
    A grid without 0 whose sweep has a separate `baseline` variant (a shared unregularized
    config) shows that baseline in the 0 slot, grey, with its CI bar. Bands: 95% bootstrap CIs
    over seeds. Returns False (no figure) for non-numeric values.
    """
    layout = path_layout(flag, variants, rows, baseline)
    if layout is None:
        return False
    series, base, positive, log, zero_at = layout
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
        if base is not None:
            mean, low, high = (base[f"{prefix}{key}"] * k for key in ("mean", "ci_low", "ci_high"))
            if math.isfinite(mean):
                err = [[mean - low], [high - mean]] if math.isfinite(low) else None
                label = f"baseline: {base['label']}"
                ax.errorbar(zero_at, mean, yerr=err, fmt="o", mfc="none", color="0.4", label=label)
                lows += [low, mean]
                highs += [high, mean]
        if log:
            ax.set_xscale("log")
            if zero_at:
                ticks = [zero_at, *positive]
                ax.set_xticks(ticks, ["0", *[f"{t:g}" for t in positive]])
                ax.minorticks_off()
        ax.set_ylim(*_limits(prefix or metric, lows, highs))
        ax.set_title(title)
        note = " (log; 0 at the left edge, hollow)" if zero_at else (" (log)" if log else "")
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


def write_all(out_dir, variants, by_variant, rows, paired, metric, baseline, grid_flags):
    """Writes every figure into out_dir; returns their paths."""
    paths = [os.path.join(out_dir, f"{_safe(metric)}.png")]
    metric_per_variant(rows, metric, baseline, paths[-1])
    base_label = next(v["label"] for v in variants if v["variant"] == baseline)
    path = os.path.join(out_dir, f"paired_{_safe(metric)}.png")
    if forest(paired, metric, base_label, path):
        paths.append(path)
    for key in curve_keys(by_variant):
        path = os.path.join(out_dir, f"curves_{_safe(key)}.png")
        if curves(variants, by_variant, key, path, baseline):
            paths.append(path)
    for flag in grid_flags:
        path = os.path.join(out_dir, f"path_{_safe(flag)}.png")
        if regularization_path(flag, metric, variants, rows, path, baseline):
            paths.append(path)
    return paths
