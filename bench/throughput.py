"""Training throughput on a compute-bound workload: our compiled loop vs Keras fit on tf.data.

    .venv/bin/python bench/throughput.py [--epochs=4] [--device=cpu|gpu]

The tutorial's MLP (512-256-128-64-32) on MNIST-sized data generated here (60,000 x 784 floats,
10 classes), batch 128, SGD. Both train the same architecture; each is timed over the epochs
after the first (tracing excluded), examples per second of training. Our loop also evaluates a
1,000-row validation split every epoch (counted against it); fit gets no validation.
Both run on --device (default cpu). Target: ours / fit >= 1.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cluster.tf_runtime import import_tensorflow  # noqa: E402

tf = import_tensorflow()  # without TensorFlow's C++ start-up chatter

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

import options  # noqa: E402
from data.dataset import Dataset, Split, one_hot  # noqa: E402
from models import build  # noqa: E402
from training import optim  # noqa: E402
from training.loop import Trainer  # noqa: E402

N, D, K, BATCH = 60_000, 784, 10, 128


def synthetic():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(K, D)).astype(np.float32)
    y = rng.integers(0, K, N + 1000)
    x = (centers[y] + 2.0 * rng.normal(size=(N + 1000, D))).astype(np.float32)
    held_out = Split(x[N:], one_hot(y[N:], K))
    return Dataset(
        "synthetic",
        "tabular",
        train=Split(x[:N], one_hot(y[:N], K)),
        val=held_out,
        test=held_out,
        class_names=tuple(str(i) for i in range(K)),
    )


def ours(ds, epochs, device):
    fv = flags.FlagValues()
    options.define_flags(fv)
    fv(["x", f"--epochs={epochs}", f"--batch_size={BATCH}", "--log_every=0"])
    cfg = options.config_from_flags(fv)
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.OneDeviceStrategy(f"/{device}:0")
    with strategy.scope():
        model = build(cfg, ds)
        opt = optim.make(cfg, -(-N // BATCH))
    trainer = Trainer(model, opt, strategy, ds, cfg)
    trainer.run(tf.constant(0, tf.int64), tf.constant(1, tf.int64))  # trace + first epoch
    start = time.perf_counter()
    trainer.run(tf.constant(1, tf.int64), tf.constant(epochs, tf.int64))
    return (epochs - 1) * N / (time.perf_counter() - start)


class EpochTimes(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times = getattr(self, "times", []) + [time.perf_counter() - self.start]


def fit(ds, epochs, device):
    keras.utils.set_random_seed(0)
    with tf.device(f"/{device}:0"):
        return _fit(ds, epochs)


def _fit(ds, epochs):
    model = keras.Sequential(
        [keras.Input((D,))]
        + [keras.layers.Dense(w, activation="tanh") for w in (512, 256, 128, 64)]
        + [keras.layers.Dense(32, activation="relu"), keras.layers.Dense(K)]
    )
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    train = (
        tf.data.Dataset.from_tensor_slices((ds.train.x, ds.train.y))
        .shuffle(N, seed=0)
        .batch(BATCH)
        .prefetch(tf.data.AUTOTUNE)
    )
    times = EpochTimes()
    model.fit(train, epochs=epochs, verbose=0, callbacks=[times], shuffle=False)  # shuffled above
    return (epochs - 1) * N / sum(times.times[1:])


def _fail(message):
    print(f"throughput.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    args = parser.parse_args()
    if args.epochs < 2:  # the first epoch (tracing) is not timed
        _fail("--epochs must be at least 2: the first one is not timed")
    if args.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        _fail("--device=gpu but TensorFlow sees no GPU; use --device=cpu")
    ds = synthetic()
    a, b = ours(ds, args.epochs, args.device), fit(ds, args.epochs, args.device)
    print(
        f"{args.device}: ours: {a:,.0f} examples/s   fit (tf.data): {b:,.0f} examples/s   "
        f"ours/fit = {a / b:.2f} (target >= 1)"
    )


if __name__ == "__main__":
    main()
