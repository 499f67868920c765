"""Our compiled loop vs. Keras model.fit on the tutorial workload, timed in one run.

    .venv/bin/python bench/fit_vs_loop.py [--repeats=3]

model1 config (MLP 512-256-128-64-32-3, SGD 0.01), 350 epochs, batch 128, evaluation on the
test split every epoch. Each time covers the whole training: model build, tracing, all epochs.
Ours runs through train.py's own train() (data, model, run directory, checkpoints, metrics);
with its default summaries and with --log_every=0. Targets: >= 20x faster than fit on NumPy
arrays (the tutorial's way), >= 4x faster than fit on tf.data.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags, logging  # noqa: E402

import train  # noqa: E402  (defines train.py's flags)
from data import load  # noqa: E402
from options import config_from_flags  # noqa: E402

EPOCHS, BATCH = 350, 128


def ours(extra, logdir):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(
        [
            "train.py",
            "--flagfile=configs/model1.cfg",
            f"--logdir={logdir}",
            f"--run_name=r{time.time_ns()}",
            "--progress=lines",
            *extra,
        ]
    )
    keras.backend.clear_session()
    start = time.perf_counter()
    assert train.train(config_from_flags()) == 0
    return time.perf_counter() - start


def keras_fit(use_tf_data):
    ds = load("iris")
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    model = keras.Sequential(
        [keras.Input((4,))]
        + [keras.layers.Dense(w, activation="tanh") for w in (512, 256, 128, 64)]
        + [keras.layers.Dense(32, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["acc", "mse"])
    if use_tf_data:
        train_ds = (
            tf.data.Dataset.from_tensor_slices((ds.train.x, ds.train.y))
            .shuffle(120, seed=0)
            .batch(BATCH)
        )
        val_ds = tf.data.Dataset.from_tensor_slices((ds.test.x, ds.test.y)).batch(BATCH)
        model.fit(train_ds, epochs=EPOCHS, validation_data=val_ds, verbose=0)
    else:
        model.fit(
            ds.train.x,
            ds.train.y,
            epochs=EPOCHS,
            batch_size=BATCH,
            validation_data=(ds.test.x, ds.test.y),
            verbose=0,
        )
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit_numpy_repeats", type=int, default=1, help="~25 s each")
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)
    with tempfile.TemporaryDirectory() as logdir:
        ours(["--epochs=2"], logdir)  # warm-up: first-use costs of the process
        t = {
            "ours (default summaries)": [ours([], logdir) for _ in range(args.repeats)],
            "ours (--log_every=0)": [ours(["--log_every=0"], logdir) for _ in range(args.repeats)],
            "fit, tf.data": [keras_fit(True) for _ in range(args.repeats)],
            "fit, NumPy (tutorial)": [keras_fit(False) for _ in range(args.fit_numpy_repeats)],
        }
    med = {k: statistics.median(v) for k, v in t.items()}
    for k, v in med.items():
        print(f"{k:28s} {v:7.2f} s  (runs: {', '.join(f'{x:.2f}' for x in t[k])})")
    for name in ("ours (default summaries)", "ours (--log_every=0)"):
        a = med["fit, NumPy (tutorial)"] / med[name]
        b = med["fit, tf.data"] / med[name]
        print(
            f"{name}: {a:.1f}x faster than fit on NumPy (target >= 20x), "
            f"{b:.1f}x faster than fit on tf.data (target >= 4x)"
        )


if __name__ == "__main__":
    main()
