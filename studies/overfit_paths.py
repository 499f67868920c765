"""Study 2's regularization paths in one figure: per grid regularizer, the paired difference from
the unregularized baseline (95% bootstrap CI) against strength, in test accuracy and test ECE.

    .venv/bin/python studies/overfit_paths.py docs/study/overfit

reads <dir>/test_accuracy/results.csv and <dir>/test_ece/results.csv

(studies/overfit.sh writes those files and runs this at the end.)
"""

import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GRIDS = ["l1", "l2", "weight_decay", "dropout_rate", "label_smoothing", "sam_rho", "clipnorm"]
PANELS = [  # metric, axis label, clip of the y axis (points) so that one collapse hides no path
    ("test_accuracy", "test accuracy − baseline (points)", (-8.0, 4.0)),
    ("test_ece", "test ECE − baseline (points; lower is better)", (-6.0, 6.0)),
]


def _paths(path):
    """{grid flag: [(strength, row), ...]} from a report's results.csv (labels end 'flag=v')."""
    out = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            last = r["label"].rsplit(", ", 1)[-1]
            if not r["diff_mean"] or "=" not in last:
                continue  # the baseline, and variants without a grid
            flag, value = last.split("=", 1)
            if flag in GRIDS:
                out.setdefault(flag, []).append((float(value), r))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in out.items()}


def _panel(ax, paths, ylabel, clip):
    clipped = []
    for flag in GRIDS:
        if flag not in paths:
            continue
        x = [s for s, _ in paths[flag]]
        mean = [100 * float(r["diff_mean"]) for _, r in paths[flag]]
        lo = [100 * float(r["diff_ci_low"]) for _, r in paths[flag]]
        hi = [100 * float(r["diff_ci_high"]) for _, r in paths[flag]]
        (line,) = ax.plot(x, mean, "o-", label=flag)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
        for xi, m, (_, r) in zip(x, mean, paths[flag], strict=True):
            if r["significant"] == "True":
                ax.plot(xi, m, "k*", markersize=10)
            if not clip[0] <= m <= clip[1]:
                clipped.append(f"{flag}={xi:g}: {m:+.1f}")
    ax.axhline(0, color="grey", lw=1)
    ax.set_xscale("log")
    ax.set_ylim(*clip)
    ax.set_xlabel("strength (each regularizer's own flag; log scale)")
    ax.set_ylabel(ylabel, fontsize=9)
    if clipped:
        ax.text(
            0.01, 0.02, "off the axis: " + "; ".join(clipped), transform=ax.transAxes, fontsize=8
        )
    ax.grid(alpha=0.3)


def main(argv):
    if len(argv) != 2:
        print("usage: overfit_paths.py STUDY_DIR (holding test_accuracy/ and test_ece/)")
        return 2
    study = argv[1]
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.4), dpi=100)
    for ax, (metric, ylabel, clip) in zip(axes, PANELS, strict=True):
        _panel(ax, _paths(os.path.join(study, metric, "results.csv")), ylabel, clip)
        ax.set_title(metric, fontsize=10)
    # One legend under both panels: inside either, it would cover some path's points.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.suptitle(
        "digits, 150 training rows: paired difference vs no regularization "
        "(band: 95% bootstrap CI; *: Holm p < 0.05 over the whole study)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path = os.path.join(study, "paths.png")
    fig.savefig(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
