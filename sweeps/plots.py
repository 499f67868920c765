"""The tutorial's figures over seeds: train vs validation curves, and accuracy per variant."""

import os

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIGSIZE = (10, 4)  # inches at DPI -> 1000 x 400 pixels
DPI = 100


def _band(ax, curves, label, color):
    curves = np.asarray(curves)
    epochs = np.arange(1, curves.shape[1] + 1)
    mean, std = np.nanmean(curves, 0), np.nanstd(curves, 0)
    ax.plot(epochs, mean, label=label, color=color)
    ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.25)


def curves(variant, runs, path):
    """Loss and accuracy, train vs validation, mean with a ±1 std band over seeds."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI)
    hist = [m["history"] for m in runs]
    for ax, key, title in (
        (loss_ax, "data_loss", "Loss vs Val_Loss"),
        (acc_ax, "accuracy", "acc vs Val_acc"),
    ):
        _band(ax, [h[f"train_{key}"] for h in hist], "train", "tab:blue")
        _band(ax, [h[f"val_{key}"] for h in hist], "validation", "tab:orange")
        ax.set_title(f"{variant}: {title} ({len(runs)} seeds)")
        ax.set_xlabel("Epochs")
        ax.set_ylabel("data loss" if key == "data_loss" else "accuracy")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def accuracy_summary(rows, path):
    done = [r for r in rows if r["finished"]]
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    x = np.arange(len(done))
    ax.bar(
        x,
        [100 * r["test_accuracy_mean"] for r in done],
        yerr=[100 * r["test_accuracy_std"] for r in done],
        capsize=4,
        color="tab:green",
    )
    ax.set_xticks(x, [r["variant"] for r in done], rotation=30, ha="right")
    ax.set_ylabel("test accuracy % (mean ± std over seeds)")
    lo = min(100 * (r["test_accuracy_mean"] - r["test_accuracy_std"]) for r in done)
    ax.set_ylim(max(0.0, lo - 5), 100.5)
    ax.set_title("Test accuracy per variant")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_all(out_dir, by_variant, rows):
    paths = []
    for variant, runs in by_variant.items():
        done = [m for _, m, s in runs if s == "finished"]
        if done:
            paths.append(os.path.join(out_dir, f"curves_{variant}.png"))
            curves(variant, done, paths[-1])
    paths.append(os.path.join(out_dir, "accuracy.png"))
    accuracy_summary(rows, paths[-1])
    return paths
