"""A sweep's results: one row per variant, mean and spread over seeds, from the runs' metrics."""

import csv
import io
import os

import numpy as np

from errors import UserError
from runs import rundir

COLUMNS = (
    "variant",
    "finished",
    "failed",
    "test_accuracy_mean",
    "test_accuracy_std",
    "test_data_loss_mean",
    "test_mse_mean",
    "generalization_gap_mean",
    "best_epoch_mean",
    "reg_layers_sparsity_mean",
    "reg_layers_l2_norm_mean",
)


def load_runs(out_dir, manifest):
    """{variant: [(seed, metrics or None, status)]} in manifest order."""
    by_variant = {}
    for entry in manifest:
        path = os.path.join(out_dir, "runs", entry["name"], "metrics.json")
        try:
            metrics = rundir.read_json(path)
        except (OSError, ValueError):
            metrics = None
        status = metrics.get("status", "missing") if metrics else "missing"
        by_variant.setdefault(entry["variant"], []).append((entry["seed"], metrics, status))
    if not any(m for runs in by_variant.values() for _, m, _ in runs):
        raise UserError(f"{out_dir} holds no finished runs yet; run sweep.py first")
    return by_variant


def regularized_layer_names(metrics):
    """Hidden layers that carry a regularizer (all hidden layers for an unregularized model)."""
    placed = metrics["regularized_layers"]
    indices = set(placed["l1"]) | set(placed["l2"]) | set(placed["batchnorm"])
    indices |= {int(i) for i in placed["dropout"]}
    hidden = [name for name in metrics["weights"] if name != "output"]
    return [hidden[i] for i in sorted(indices)] if indices else hidden


def summarize(by_variant):
    rows = []
    for variant, runs in by_variant.items():
        done = [m for _, m, s in runs if s == "finished"]
        row = {"variant": variant, "finished": len(done), "failed": len(runs) - len(done)}
        if done:

            def mean(values):
                return float(np.mean(values))

            acc = [m["final"]["test_accuracy"] for m in done]
            layers = [[m["weights"][n] for n in regularized_layer_names(m)] for m in done]
            row.update(
                test_accuracy_mean=mean(acc),
                test_accuracy_std=float(np.std(acc, ddof=0)),
                test_data_loss_mean=mean([m["final"]["test_data_loss"] for m in done]),
                test_mse_mean=mean([m["final"]["test_mse"] for m in done]),
                generalization_gap_mean=mean([m["final"]["generalization_gap"] for m in done]),
                best_epoch_mean=mean([m["best_epoch"] for m in done]),
                reg_layers_sparsity_mean=mean([w["sparsity"] for ws in layers for w in ws]),
                reg_layers_l2_norm_mean=mean([w["l2_norm"] for ws in layers for w in ws]),
            )
        rows.append(row)
    return rows


def to_csv(rows):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
    return buf.getvalue()


def to_markdown(rows):
    lines = [
        "| variant | test accuracy % (mean ± std) | test data loss | test MSE | "
        "final gap (val − train loss) | best epoch (val loss) | sparsity of reg. layers | "
        "L2 norm of reg. layers | runs finished / failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["finished"]:
            lines.append(f"| {r['variant']} | – | – | – | – | – | – | – | 0 / {r['failed']} |")
            continue
        lines.append(
            f"| {r['variant']} | {100 * r['test_accuracy_mean']:.1f} ± "
            f"{100 * r['test_accuracy_std']:.1f} | {r['test_data_loss_mean']:.3f} | "
            f"{r['test_mse_mean']:.4f} | {r['generalization_gap_mean']:+.3f} | "
            f"{r['best_epoch_mean']:.0f} | {r['reg_layers_sparsity_mean']:.3f} | "
            f"{r['reg_layers_l2_norm_mean']:.2f} | {r['finished']} / {r['failed']} |"
        )
    return "\n".join(lines) + "\n"
