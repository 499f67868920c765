"""Would training several seeds as one batched program keep a standalone run's numbers bitwise?

    .venv/bin/python bench/batched_seeds.py [--seeds=5] [--repeats=200]

Training the seeds of a variant in one compiled program could speed a sweep up, but only keeps
the project's numbers if every run stays bitwise a standalone train.py run. Vectorizing over
seeds turns each Dense layer's MatMul (fused with its bias and activation, as TensorFlow compiles
a Keras Dense inside tf.function) into one batched matmul over [seeds, batch, features]. This
checks, for the tutorial MLP's layer shapes (train batch 120, validation 30; forward and the two
backward products), whether a batched product gives each seed bitwise what its own layer gives,
and times both. One thread per pool by default, as a sweep worker runs (TF_NUM_INTRAOP_THREADS and
TF_NUM_INTEROP_THREADS override it). Exit 0 either way: it measures, it does not judge.
"""

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
tf = keras = None  # imported once the arguments are good (main)

WIDTHS = (4, 512, 256, 128, 64, 32, 3)  # the tutorial MLP (--hidden's default, 3 classes)


def layer_pairs(seeds, rows, rng):
    """Per layer: seeds x (input, Dense layer), and the batched weights the same values make."""
    out = []
    for fan_in, units in zip(WIDTHS[:-1], WIDTHS[1:], strict=True):
        x = rng.standard_normal((seeds, rows, fan_in)).astype(np.float32)
        w = (rng.standard_normal((seeds, fan_in, units)) / np.sqrt(fan_in)).astype(np.float32)
        b = (0.1 * rng.standard_normal((seeds, units))).astype(np.float32)
        last = units == WIDTHS[-1]
        dense = []
        for s in range(seeds):
            layer = keras.layers.Dense(units, activation=None if last else "tanh")
            layer.build((None, fan_in))
            layer.set_weights([w[s], b[s]])
            dense.append(layer)
        out.append((tf.constant(x), dense, tf.constant(w), tf.constant(b[:, None, :]), last))
    return out


def compare(seeds, rows, repeats, rng):
    for x, dense, w, b, last in layer_pairs(seeds, rows, rng):
        act = tf.identity if last else tf.tanh

        @tf.function(autograph=False)
        def single(x=x, dense=dense):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                ys = [layer(x[s]) for s, layer in enumerate(dense)]
                loss = tf.add_n([tf.reduce_sum(tf.square(y)) for y in ys])
            grads = tape.gradient(loss, [x] + [layer.kernel for layer in dense])
            return tf.stack(ys), grads[0], tf.stack(grads[1:])

        @tf.function(autograph=False)
        def batched(x=x, w=w, b=b, act=act):
            with tf.GradientTape() as tape:
                tape.watch([x, w, b])
                y = act(tf.matmul(x, w) + b)
                loss = tf.reduce_sum(tf.square(y))
            gx, gw = tape.gradient(loss, [x, w])
            return y, gx, gw

        a, bt = single(), batched()
        names = ("forward", "d input", "d kernel")
        same = [bool(np.array_equal(p.numpy(), q.numpy())) for p, q in zip(a, bt, strict=True)]
        diff = [float(np.max(np.abs(p.numpy() - q.numpy()))) for p, q in zip(a, bt, strict=True)]
        times = []
        for fn in (single, batched):
            start = time.perf_counter()
            for _ in range(repeats):
                fn()
            times.append((time.perf_counter() - start) / repeats * 1e3)
        shape = f"[{rows}x{x.shape[2]}] @ [{x.shape[2]}x{w.shape[2]}]"
        verdict = ", ".join(
            f"{n} {'bitwise' if s else f'differs (max {d:.1e})'}"
            for n, s, d in zip(names, same, diff, strict=True)
        )
        print(
            f"{shape:>22}: {verdict}; {seeds} layers {times[0]:.3f} ms, batched "
            f"{times[1]:.3f} ms ({times[0] / times[1]:.2f}x)",
            flush=True,
        )


def main():
    global tf, keras
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    if args.seeds < 2 or args.repeats < 1:
        parser.error("--seeds must be >= 2 and --repeats >= 1")
    threads = [os.environ.setdefault(f"TF_NUM_{p}_THREADS", "1") for p in ("INTRAOP", "INTEROP")]
    from cluster.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import keras

    tf.get_logger().setLevel("ERROR")  # one tf.function per layer: no retracing advice
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1 (default)")
    print(
        f"TF {tf.__version__}, TF_ENABLE_ONEDNN_OPTS={onednn}, {args.seeds} seeds, "
        f"intra-op threads {threads[0]}, inter-op threads {threads[1]}"
    )
    rng = np.random.default_rng(0)
    for rows in (120, 30):  # the train batch (full IRIS train split) and the validation pass
        print(f"batch {rows}:")
        compare(args.seeds, rows, args.repeats, rng)


if __name__ == "__main__":
    main()
