"""results.md: the protocol, the per-variant and paired tables, and how to read them."""

import math

import numpy as np

from sweeps import results, stats


def _esc(text):
    return str(text).replace("|", "\\|")


def formatter(metric):
    """Value and difference formats: accuracy-like metrics in percent (points for differences)."""
    if results.is_fraction(metric):
        return (lambda v: f"{100 * v:.1f}"), (lambda d: f"{100 * d:+.1f}"), " %"
    return (lambda v: f"{v:.4g}"), (lambda d: f"{d:+.3g}"), ""


def _sig3(v):
    """3 significant digits, trailing zeros kept: "10.0" beside "2.81", not "10"."""
    return f"{v:#.3g}".rstrip(".")


def _num(fmt, v):
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt(v)


def protocol(out_dir, manifest, variants, rows, metric, higher, baseline, why):
    p = manifest["protocol"]
    seeds = p.get("seeds") or max(len(r["values"]) for r in rows)
    n_runs = sum(r["runs"] for r in rows)
    finished = sum(r["finished"] for r in rows)
    base_label = next(v["label"] for v in variants if v["variant"] == baseline)
    grid = p.get("grid") or {}
    bound = p.get("config_grids") or {}
    lines = [
        f"# Results: {out_dir}",
        "",
        "## Protocol",
        "",
        f"- **Runs**: {_count(len(variants), 'variant')} × {_count(seeds, 'seed')} "
        f"({'seed 0' if seeds == 1 else f'seeds 0–{seeds - 1}'}) = "
        f"{_count(n_runs, 'run')}, {finished} finished. Executor: {p.get('executor', '?')}.",
        "- **Configs**: " + (", ".join(f"`{c}`" for c in p.get("configs", [])) or "?"),
        "- **Train flags given to every run**: "
        + (" ".join(f"`{f}`" for f in p.get("train_flags", [])) or "none"),
        "- **Grid**: "
        + (
            "; ".join(f"`{k}` ∈ {{{', '.join(v)}}}" for k, v in grid.items())
            + ", crossed with every config and seed"
            if grid
            else "none"
        ),
    ]
    for config, axes in bound.items():
        lines.append(
            f"- **Grid of `{config}` alone**: "
            + "; ".join(f"`{k}` ∈ {{{', '.join(v)}}}" for k, v in axes.items())
        )
    if p.get("shared"):
        lines.append(
            "- **Settings shared by every variant, given or not train.py's default**: "
            + ", ".join(p["shared"])
        )
    if p.get("some_variants"):
        lines.append(
            "- **Settings of only some variants** (they do nothing in the others): "
            + ", ".join(p["some_variants"])
        )
    if p.get("shared_defaults"):
        lines.append(
            "- **Shared, at train.py's defaults** (data, validation protocol, model, "
            "optimization; every other trained flag): " + ", ".join(p["shared_defaults"])
        )
    if p.get("varying"):
        lines.append(
            "- **Settings that differ between variants**: "
            + ", ".join(p["varying"])
            + " (the labels say how)"
        )
    lines += [
        f'- **Metric**: `{metric}` {measured(rows)} (metrics.json "final"); '
        f"{'higher' if higher else 'lower'} is better.",
        f"- **Baseline**: `{baseline}` ({_esc(base_label)}): {why}.",
        "",
    ]
    return lines


def measured(rows):
    """Which weights the metric was measured on: the restored best epoch's or the last's."""
    on = sum(r["early_stopping"] for r in rows)
    finished = sum(r["finished"] for r in rows)
    last = "the last epoch's"
    if not on:
        return f"of the weights each run ends with: {last}"
    best = "the best epoch's (lowest validation loss), which early stopping restored"
    if on == finished:
        return f"of the weights each run ends with: {best}"
    return (
        f"of the weights each run ends with: in the {on} runs with early stopping {best}; "
        f"in the others {last}"
    )


def epochs(r, key):
    """'5.2 [3–8]': an epoch's mean and range over a variant's finished runs."""
    if math.isnan(r[f"{key}_mean"]):
        return "–"
    low, high = r[f"{key}_min"], r[f"{key}_max"]
    span = f"{low:g}" if low == high else f"{low:g}–{high:g}"
    mean = r[f"{key}_mean"]
    return f"{mean:g} [{span}]" if mean == int(mean) else f"{mean:.1f} [{span}]"


def early_stopping_note(rows, baseline):
    """Early stopping regularizes too: say where the baseline's runs stopped and peaked."""
    base = next(r for r in rows if r["variant"] == baseline)
    stopped = sum(r["early_stopped"] for r in rows)
    if not stopped:
        return []
    return [
        f"Early stopping ended {stopped} of {sum(r['finished'] for r in rows)} finished runs "
        f"before their last planned epoch. The baseline's best epochs: {epochs(base, 'best_epoch')}"
        f", its runs stopped at {epochs(base, 'stopped_epoch')}, of at most "
        f"{base['epochs_planned']}: part of any regularization here is early stopping's.",
        "",
    ]


def variant_table(rows, metric):
    fmt, _, unit = formatter(metric)
    lines = [
        "## Per variant",
        "",
        f"| variant | label | {metric}{unit}: mean ± std | 95% CI of the mean | per seed | "
        "finished / runs | best epoch: mean [range] | stopped at: mean [range] | "
        "sparsity of reg. layers | L2 norm of reg. layers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per_seed = ", ".join(fmt(v) for _, v in sorted(r["values"].items()))
        if len(r["values"]) > 10:
            per_seed = "(runs.csv)"
        lines.append(
            f"| {r['variant']} | {_esc(r['label'])} | {_num(fmt, r['mean'])} ± "
            f"{_num(fmt, r['std'])} | [{_num(fmt, r['ci_low'])}, {_num(fmt, r['ci_high'])}] | "
            f"{per_seed or '–'} | {r['finished']} / {r['runs']} | "
            f"{epochs(r, 'best_epoch')} | {epochs(r, 'stopped_epoch')} | "
            f"{_num(lambda v: f'{v:.3f}', r['reg_layers_sparsity_mean'])} | "
            f"{_num(_sig3, r['reg_layers_l2_norm_mean'])} |"
        )
    return [*lines, ""]


def paired_table(paired, metric, higher, baseline, base_label):
    _, dfmt, unit = formatter(metric)
    unit = " (points)" if unit else ""
    lines = [
        f"## Paired comparison with the baseline `{baseline}` ({_esc(base_label)})",
        "",
        f"| variant | label | seeds paired | mean difference{unit} (95% CI) | "
        "P(improvement) | Wilcoxon p | Holm p | significant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in paired:
        diff = (
            f"{_num(dfmt, c['diff_mean'])} [{_num(dfmt, c['diff_ci_low'])}, "
            f"{_num(dfmt, c['diff_ci_high'])}]"
        )
        lines.append(
            f"| {c['variant']} | {_esc(c['label'])} | {c['n_pairs']} | {diff} | "
            f"{_num(lambda v: f'{v:.2f}', c['prob_improvement'])} | "
            f"{_num(lambda v: f'{v:.3g}', c['p_value'])} | "
            f"{_num(lambda v: f'{v:.3g}', c['p_holm'])} | {'yes' if c['significant'] else 'no'} |"
        )
    lines.append("")
    lines += family(paired, baseline)
    lines += verdict(paired, metric, higher)
    return [*lines, ""]


def family(paired, baseline):
    """The family Holm's correction is over: every comparison of this report."""
    if len(paired) < 2:
        return []
    return [
        f"**The family**: one question, does any variant differ from the baseline `{baseline}`? "
        f"Holm's correction is over all {len(paired)} comparisons above (every variant of this "
        "sweep, of every config and grid, against the baseline).",
        "",
    ]


def verdict(paired, metric, higher):
    """The plain sentence a reader needs: does anything differ beyond seed noise?"""
    if not paired:
        return ["Only one variant: nothing to compare."]
    if not any(c["n_pairs"] for c in paired):
        return ["No seed finished in both the baseline and another variant: nothing to compare."]
    _, dfmt, unit = formatter(metric)
    significant = [c for c in paired if c["significant"]]
    if significant:
        return [
            f"Differ from the baseline beyond seed noise (Holm-adjusted p < {stats.ALPHA}): "
            + "; ".join(
                f"`{c['variant']}` ({dfmt(c['diff_mean'])}{' points' if unit else ''}, "
                f"{'better' if (c['diff_mean'] > 0) == higher else 'worse'})"
                for c in significant
            )
            + "."
        ]
    lines = [
        "**No variant differs from the baseline beyond seed noise** (Holm-adjusted Wilcoxon "
        f"p ≥ {stats.ALPHA} for "
        + (
            f"all {len(paired)} variants compared)."
            if len(paired) > 1
            else "the one variant compared)."
        )
    ]
    pairs = max(c["n_pairs"] for c in paired)
    if pairs and stats.smallest_p(pairs) >= stats.ALPHA:
        lines[0] += (
            f" With {pairs} paired seeds the smallest possible two-sided Wilcoxon p-value is "
            f"{stats.smallest_p(pairs):.3g}, so no difference could have reached p < "
            f"{stats.ALPHA}: at least 6 seeds are needed."
        )
    return lines


def failures(variants, by_variant):
    bad = [r for v in variants for r in by_variant[v["variant"]] if not r.finished]
    if not bad:
        return []
    lines = [
        "## Runs that did not finish",
        "",
        "| run | seed | status | exit code | log: last error line |",
        "|---|---|---|---|---|",
    ]
    for r in bad:
        o = r.outcome
        code = "–" if o.exit is None else o.exit
        lines.append(f"| {r.name} | {r.seed} | {o.status} | {code} | `{o.log}`: {_esc(o.error)} |")
    return [*lines, ""]


def counts(metric, n):
    """How the values are compared: as counts of n examples, or as floats."""
    if n:
        return (
            f"- `{metric}` is a count of correct predictions among the split's {n} examples "
            '(metrics.json "examples"): each value is taken as count / n, and the paired '
            "test and P(improvement) compare the counts (runs.csv: "
            f"`{metric}_count`, `{metric}_examples`). Equal differences in examples are "
            f"then equal exactly{float32_example(n)}, which would rank rounding noise as if it "
            "were signal."
        )
    return (
        f"- `{metric}` is compared as a real number (not a count of examples: no split "
        "size in metrics.json or values that are not count / n), at full precision."
    )


def float32_example(n):
    """', while in float32 ...': the same 3-example difference between two accuracies of n
    examples, as far apart as float32 puts it (or '' when float32 is exact for this n)."""
    if n < 4:
        return ""
    k = np.arange(n - 2, dtype=np.float32)
    n32 = np.float32(n)
    diffs = ((k + 3) / n32).astype(np.float64) - (k / n32).astype(np.float64)
    low, high = diffs.min() * n, diffs.max() * n
    if low == high:
        return ""
    return (
        f", while in float32 they differ in the last digits ({low:.7f}/{n} against {high:.7f}/{n})"
    )


def method(metric, higher, n=None):
    better = "higher" if higher else "lower"
    return [
        "## How the numbers are computed",
        "",
        f"- Per variant: mean and sample standard deviation (ddof=1) of `{metric}` over the "
        "finished seeds; the 95% CI of the mean is a percentile bootstrap (10,000 resamples of "
        "the seeds, numpy default_rng(0): the same numbers every time). Per-run values: "
        "runs.csv.",
        "- Paired comparison: seed s of every variant trains on the same split in the same "
        "data order as seed s of the baseline, so variants are compared seed by seed, on the "
        "seeds finished in both. Mean difference = variant − baseline, with a bootstrap CI.",
        "- P(improvement) is rliable's probability of improvement (Agarwal et al., 2021): the "
        "mean over all pairs (i, j) of those seeds of 1[variant's x_i is better than the "
        f"baseline's y_j] + ½·1[x_i = y_j], {better} being better; 0.5 means no tendency.",
        counts(metric, n),
        "- Wilcoxon signed-rank test on the paired differences, two-sided. Zero differences "
        "(a seed on which variant and baseline score the same) are dropped, "
        'zero_method="wilcox": they say nothing about the direction of a difference, and the '
        "test is then scipy's default. Equal absolute differences (ties) share their average "
        f"rank, and with up to {stats.EXACT_UP_TO} nonzero differences the p-value is exact "
        "given those ranks: all 2^n sign patterns are equally likely under no difference, "
        "p = min(1, 2·min(P(W+ ≥ w), P(W+ ≤ w))), as scipy.stats.wilcoxon with "
        "method=PermutationMethod(n_resamples=inf) computes it (scipy's default up to 13 "
        "differences); above, scipy's normal approximation with its tie correction. p = 1 "
        "when every difference is zero. With n seeds the smallest possible p is 2/2^n "
        "(0.25 for 3 seeds, 0.0625 for 5, 0.031 for 6).",
        "- Holm's correction over all the comparisons of this report (the family: every "
        "variant against the baseline): the i-th smallest of m p-values becomes the running "
        f"maximum of min(1, (m − i + 1)·p); significant: adjusted p < {stats.ALPHA}.",
        "- Epochs: best epoch = the epoch of lowest validation loss (metrics.json "
        '"best_epoch"); stopped at = the last epoch trained (early stopping\'s "stopped_epoch",'
        ' else "epochs_completed"). Every number of this file is recomputable from runs.csv, '
        "which holds each run's values at full precision.",
        "- Sparsity and L2 norm of the regularized layers: the final per-layer statistics "
        '(metrics.json "weights") averaged over the hidden layers that carry any regularizer '
        "(every hidden layer when a variant has none), then over seeds.",
        "",
    ]


def write(
    out_dir, manifest, variants, by_variant, rows, paired, metric, higher, baseline, why, n=None
):
    base_label = next(v["label"] for v in variants if v["variant"] == baseline)
    lines = protocol(out_dir, manifest, variants, rows, metric, higher, baseline, why)
    lines += variant_table(rows, metric)
    lines += early_stopping_note(rows, baseline)
    lines += paired_table(paired, metric, higher, baseline, base_label)
    lines += failures(variants, by_variant)
    lines += method(metric, higher, n)
    return "\n".join(lines)


def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
