"""The TensorBoard summaries the compiled loop writes at the end of an epoch (graph code).

Losses and metrics under the same tags in train/ and val/; learning rate, generalization gap and
the regularizers' epoch columns at the root; per-layer statistics, and histograms with the
distance from initialization, at the root.
"""

import tensorflow as tf

from inspection import measures, stats
from inspection.calibration import TAGS as CALIBRATION_TAGS
from inspection.summaries import write_histograms, write_scalars


def write_epoch_scalars(writers, step, row, active, calibrated=None):
    """`row`: the epoch's history row {column: scalar}; `active`: the run's regularizers;
    `calibrated`: the validation pass's calibration.scalars_from_sums, written with val/'s
    losses (one event: a write per epoch fewer), or None."""
    names = [reg.name for reg in active if reg.has_penalty]
    pens = [row[f"penalty_{name}"] for name in names]
    pen = tf.add_n(pens) if pens else tf.zeros([])
    tags = ["loss/data", "loss/penalty", *[f"loss/penalty/{n}" for n in names], "loss/total"]
    tags += ["metrics/accuracy", "metrics/mse"]
    for writer, split in ((writers.train, "train"), (writers.val, "val")):
        data = row[f"{split}_data_loss"]
        values = [data, pen, *pens, data + pen, row[f"{split}_accuracy"], row[f"{split}_mse"]]
        if split == "val" and calibrated is not None:
            both = tf.concat([tf.stack(values), calibrated], 0)
            write_scalars(writer, tags + CALIBRATION_TAGS, both, step)
        else:
            write_scalars(writer, tags, tf.stack(values), step)
    gap = row["val_data_loss"] - row["train_data_loss"]
    extra = [name for reg in active for name in reg.columns()]
    write_scalars(
        writers.root,
        ["optim/learning_rate", "metrics/generalization_gap", *extra],
        tf.stack([row["learning_rate"], gap, *[row[name] for name in extra]]),
        step,
    )


def write_layer_stats(writer, step, model, active, last_step, acts, sparsity_threshold):
    """Per-layer statistics of weights, the last step ({grad_l2_norm, update_l2_norm} of the
    epoch's last step), the probe activations `acts`, and the regularizers' own."""
    names = [n for n, _ in model.kernel_layers()]
    kernels = [layer.kernel for _, layer in model.kernel_layers()]
    weights = stats.weight_stats_many(kernels, sparsity_threshold)
    # The last step's update relative to the weights it produced (the epoch's weights).
    ratio = last_step["update_l2_norm"] / (weights["l2_norm"] + 1e-12)
    updates = {"grad_l2_norm": last_step["grad_l2_norm"], "update_ratio": ratio}
    groups = [
        ("weights", weights, names),
        ("weights", updates, names),
        ("activations", stats.activation_stats_many(list(acts.values())), list(acts)),
    ]
    for reg in active:
        groups += reg.layer_stats(model, acts)
    tags, values = [], []
    for prefix, by_stat, layer_names in groups:
        for key, vector in by_stat.items():
            tags += [f"{prefix}/{name}/{key}" for name in layer_names]
            values.append(vector)
    write_scalars(writer, tags, tf.concat(values, 0), step)


def write_measures(writer, step, model, initial):
    """The distance from initialization (`initial`: the kernels at init) of each kernel, and the
    total: the generalization measure cheap enough to follow in training."""
    names = [n for n, _ in model.kernel_layers()]
    dist, total = measures.distance_measures(model, initial)
    tags = [f"measures/{n}/dist_init" for n in names] + ["measures/dist_init"]
    write_scalars(writer, tags, tf.concat([dist, total[None]], 0), step)


def write_weight_histograms(writer, step, model, acts):
    """Histograms of every kernel and bias, and of the probe activations `acts` (or None)."""
    tags, tensors = [], []
    for name, layer in model.kernel_layers():
        tags += [f"weights/{name}/kernel", f"weights/{name}/bias"]
        tensors += [layer.kernel, layer.bias]
    for name, a in (acts or {}).items():
        tags.append(f"activations/{name}")
        tensors.append(a)
    write_histograms(writer, tags, *stats.histograms_many(tensors), step)
