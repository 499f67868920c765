"""What metrics.json reports about a run's results, from the trainer's history and the model."""

import numpy as np

import regularizers
from inspection import stats


def results(trainer, model, cfg, *, row, test, val=None):
    """Final metrics of the weights the run ends with, best epoch, history, weight statistics.

    `row`: the history row (0-based epoch) those weights finished; `test`: their test-split
    metrics ({data_loss, accuracy, mse}), None for a run that did not finish (no test_* keys
    then); `val`: their validation metrics when no history row holds them (EMA's averages).
    Empty when no epoch finished with finite numbers.
    """
    last = int(trainer.epoch.numpy())
    hist = trainer.history.numpy()[:last]
    if row is None:
        return {}
    m = trainer.epoch_metrics(row)
    penalty = {r.name: m[f"penalty_{r.name}"] for r in trainer.active if r.has_penalty}
    total = sum(penalty.values(), 0.0)  # in registry order, as the loop sums them
    val_loss = trainer.columns.index("val_data_loss")
    best = int(np.nanargmin(hist[:, val_loss]))
    out = {
        "final": {
            "epoch": row + 1,
            "train_data_loss": m["train_data_loss"],
            "train_accuracy": m["train_accuracy"],
            "train_mse": m["train_mse"],
            "train_loss": m["train_data_loss"] + total,
            **_split("val", val or _row_split(m, "val"), total),
            **(_split("test", test, total) if test else {}),
            "penalty": penalty,
            "penalty_total": total,
            "generalization_gap": (val or _row_split(m, "val"))["data_loss"] - m["train_data_loss"],
            "learning_rate": m["learning_rate"],
        },
        "best_epoch": best + 1,
        "best_val_data_loss": float(hist[best, val_loss]),
        "history": {name: [float(v) for v in hist[:, i]] for i, name in enumerate(trainer.columns)},
        "weights": {
            name: {
                k: float(v)
                for k, v in stats.weight_stats(layer.kernel, cfg.sparsity_threshold).items()
            }
            for name, layer in model.kernel_layers()
        },
        "regularized_layers": {r.name: list(r.layers) for r in trainer.active if r.placed()},
        "regularizers": [
            {"name": r.name, "layers": list(r.layers), **r.values, **_cost(r)}
            for r in trainer.active
        ],
        "label": regularizers.describe(trainer.active, cfg),
    }
    if trainer.early_stopping:
        out["best_epoch"] = int(trainer.early_stopping.best_epoch.numpy())
        out["stopped_epoch"] = int(trainer.early_stopping.stopped_epoch.numpy()) or None
    return out


def _cost(reg):
    """What a regularizer costs beyond a plain step, when it does (SAM's second pass)."""
    return {"passes_per_step": reg.passes_per_step} if reg.passes_per_step != 1 else {}


def _row_split(m, split):
    return {k: m[f"{split}_{k}"] for k in ("data_loss", "accuracy", "mse")}


def _split(split, values, penalty):
    """{split}_data_loss, _accuracy, _mse, and _loss: the data loss plus the penalty, as the
    tutorial's evaluate() reports it."""
    out = {f"{split}_{k}": v for k, v in values.items()}
    if split == "test":
        out["test_loss"] = values["data_loss"] + penalty
    return out


def last_finite_row(trainer):
    """The last epoch (0-based) whose history row is finite, or None."""
    hist = trainer.history.numpy()[: int(trainer.epoch.numpy())]
    good = [i for i in range(len(hist)) if np.isfinite(hist[i]).all()]
    return good[-1] if good else None
