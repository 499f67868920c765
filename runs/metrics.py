"""What metrics.json reports about a run's results, from the trainer's history and the model."""

import numpy as np

from inspection import stats
from training.loop import HISTORY


def results(trainer, model, cfg):
    """Final metrics (the last finite epoch), best epoch, history, weight statistics.

    Empty when no epoch finished with finite numbers.
    """
    last = int(trainer.epoch.numpy())
    hist = trainer.history.numpy()[:last]
    good = [i for i in range(last) if np.isfinite(hist[i]).all()]
    if not good:
        return {}
    m = trainer.epoch_metrics(good[-1])
    penalty = m["penalty_l1"] + m["penalty_l2"]
    best = int(np.nanargmin(hist[:, HISTORY.index("val_data_loss")]))
    return {
        "final": {
            "epoch": good[-1] + 1,
            "train_data_loss": m["train_data_loss"],
            "train_accuracy": m["train_accuracy"],
            "train_mse": m["train_mse"],
            "train_loss": m["train_data_loss"] + penalty,
            "test_data_loss": m["val_data_loss"],
            "test_accuracy": m["val_accuracy"],
            "test_mse": m["val_mse"],
            "test_loss": m["val_data_loss"] + penalty,  # what the tutorial's evaluate() reports
            "penalty": penalty,
            "penalty_l1": m["penalty_l1"],
            "penalty_l2": m["penalty_l2"],
            "generalization_gap": m["val_data_loss"] - m["train_data_loss"],
            "learning_rate": m["learning_rate"],
        },
        "best_epoch": best + 1,
        "best_val_data_loss": float(hist[best, HISTORY.index("val_data_loss")]),
        "history": {name: [float(v) for v in hist[:, i]] for i, name in enumerate(HISTORY)},
        "weights": {
            name: {
                k: float(v)
                for k, v in stats.weight_stats(layer.kernel, cfg.sparsity_threshold).items()
            }
            for name, layer in model.kernel_layers()
        },
        "regularized_layers": model.placement.as_dict(),
    }
