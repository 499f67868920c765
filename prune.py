"""Writes a run's model without its dead hidden units: a smaller model, the same predictions.

    python prune.py --run_dir=runs_out/iris_mlp_group_lasso-0.01_all_..._s0_1234abcd
    python prune.py --run_dir=RUN --out=pruned/

Reads a finished run with runs.load_run (its exported model and its data). A unit is dead when
every weight reading it is exactly zero (what --reg=group_lasso produces; models/compact.py
says which weights, and which blocks keep all their units). Writes
<out>/model.keras (a plain functional Keras model: keras.saving.load_model opens it without
this code) and <out>/prune.json (units and parameters before/after, and the largest logit
difference from the full model on the run's train, validation and test rows). --out defaults to
<run_dir>/pruned.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

import cli  # noqa: E402

flags.DEFINE_string("run_dir", None, "Run directory (train.py's) whose model to prune.")
flags.DEFINE_string("out", "", "Output directory; empty: <run_dir>/pruned.")
FLAGS = flags.FLAGS

CHUNK = 4096  # rows per forward pass when comparing predictions


def load(run_dir):
    """(model, dataset) of a finished run: its exported final model (<run_dir>/model/: early
    stopping's best or EMA's weights when the run used them) and its data splits."""
    from cluster.tf_runtime import quiet_startup

    with quiet_startup():
        from runs import load_run

        run = load_run(run_dir)
        return run.model, run.splits


def max_logit_difference(full, small, splits):
    import numpy as np

    worst = 0.0
    for split in splits:
        for start in range(0, len(split.x), CHUNK):
            x = split.x[start : start + CHUNK]
            a = np.asarray(full(x, training=False), np.float64)
            b = np.asarray(small(x, training=False), np.float64)
            worst = max(worst, float(np.max(np.abs(a - b))))
    return worst


def prune(run_dir, out):
    """Writes <out>/model.keras and <out>/prune.json; returns the prune.json contents."""
    model, dataset = load(run_dir)

    from models.compact import compact, live_units, parameter_count, prunable
    from runs import rundir

    masks = live_units(model)
    small = compact(model, dataset.input_shape, masks)
    splits = [s for s in (dataset.train, dataset.val, dataset.test) if s is not None and len(s)]
    report = {
        "run_dir": os.path.abspath(run_dir),
        "layers": [b.core.name for b in model.blocks],
        "units_before": [len(m) for m in masks],
        "units_after": [int(m.sum()) for m in masks],
        "kept_whole": [b.core.name for b in model.blocks if not prunable(b)],
        "parameters_before": parameter_count(model),
        "parameters_after": parameter_count(small),
        "max_abs_logit_difference": max_logit_difference(model, small, splits),
    }
    path = os.path.join(out, "model.keras")
    tmp = os.path.join(out, ".tmp-model.keras")
    try:
        os.makedirs(out, exist_ok=True)
        small.save(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise rundir.write_error(path, e) from e
    rundir.write_json(os.path.join(out, "prune.json"), report)
    return report


def main():
    from errors import UserError

    if not FLAGS.run_dir:
        raise UserError("--run_dir is required: the train.py run directory to prune")
    out = FLAGS.out or os.path.join(FLAGS.run_dir, "pruned")
    r = prune(FLAGS.run_dir, out)
    before, after = r["parameters_before"], r["parameters_after"]
    units = ", ".join(
        f"{name} {b}->{a}"
        for name, b, a in zip(r["layers"], r["units_before"], r["units_after"], strict=True)
    )
    print(f"units: {units}")
    print(f"parameters: {before} -> {after} ({100 * (before - after) / before:.1f}% fewer)")
    print(f"max |logit difference| on the run's rows: {r['max_abs_logit_difference']:.3g}")
    if r["kept_whole"]:
        print(f"kept whole (a layer there mixes units): {', '.join(r['kept_whole'])}")
    print(f"wrote {os.path.join(out, 'model.keras')}")
    return 0


if __name__ == "__main__":
    cli.run(main)
