"""A finished run's final model as an artifact: <run_dir>/model/ (.keras, SavedModel, meta.json).

- model.keras: the Keras model (`import models` first: it registers the model classes);
- saved_model/: a TensorFlow SavedModel whose `serving_default` signature takes RAW features
  (the run's preprocessing is inside it) and returns probabilities, class index and class name;
- meta.json: class and feature names, preprocessing, input shape, data fingerprint, and which
  weights these are.

The directory appears whole or not at all: it is written under a temporary name, then renamed.
"""

import contextlib
import logging
import os
import secrets
import shutil
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging as absl_logging

from regularizers.base import Regularizer
from runs import rundir
from runs.model_files import (
    INPUT_NAME,
    KERAS_FILE,
    META_FILE,
    MODEL_DIR,
    OUTPUTS,
    SAVED_MODEL_DIR,
    SIGNATURE,
)


def export(run_dir, model, dataset, cfg, metrics, active=()):
    """Writes `run_dir`/model/ for the weights now in `model`; returns its path. Write failures
    raise (OSError, TensorFlow errors, runs.rundir's WriteError)."""
    start = time.time()
    final = os.path.join(run_dir, MODEL_DIR)
    # ".tmp-" names are what rundir removes from a reused directory: a crash leaves no litter.
    tmp = os.path.join(run_dir, f".tmp-{MODEL_DIR}-{secrets.token_hex(6)}")
    os.makedirs(tmp)
    try:
        model.save(os.path.join(tmp, KERAS_FILE))
        with _quiet_tf_logs():
            save_serving(os.path.join(tmp, SAVED_MODEL_DIR), model, dataset)
        rundir.write_json(os.path.join(tmp, META_FILE), meta(dataset, cfg, metrics, active))
        if os.path.isdir(final):  # left by an earlier run whose metrics.json was removed
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    absl_logging.info("model exported to %s in %.2f s", final, time.time() - start)
    return final


@contextlib.contextmanager
def _quiet_tf_logs():
    """Hides SavedModel's INFO lines (they name the temporary directory, not the final one)."""
    logger = logging.getLogger("tensorflow")
    level, verbosity = logger.level, absl_logging.get_verbosity()
    logger.setLevel(logging.WARNING)
    absl_logging.set_verbosity(absl_logging.WARNING)  # TF's saving code logs through absl too
    try:
        yield
    finally:
        logger.setLevel(level)
        absl_logging.set_verbosity(verbosity)


def meta(dataset, cfg, metrics, active):
    """What meta.json holds: enough to feed the model raw rows and to know what it is."""
    epoch = metrics["final"]["epoch"]
    early = cfg.early_stopping_patience > 0  # train.py then restored the best epoch's weights
    return {
        "dataset": dataset.name,
        "kind": dataset.kind,
        "class_names": list(dataset.class_names),
        "feature_names": list(dataset.feature_names),
        "input_columns": input_columns(dataset),
        "preprocessing": dataset.preprocessing,
        "input_shape": list(dataset.input_shape),
        "data_fingerprint": dataset.fingerprint(),
        "model": cfg.model,
        "weights": f"early-stopping best epoch {epoch}" if early else "final",
        "weights_epoch": epoch,
        # Regularizers whose finalize hook changed the weights after training (EMA).
        "finalized_by": [r.name for r in active if type(r).finalize is not Regularizer.finalize],
        "files": {"keras": KERAS_FILE, "saved_model": SAVED_MODEL_DIR},
        "serving": {
            "signature": SIGNATURE,
            "input": INPUT_NAME,
            **serving_input(dataset),
            "outputs": list(OUTPUTS),
        },
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }


def input_columns(dataset):
    """The CSV columns predict.py reads, in the model's order: the feature names (feature_<i>
    when the source has none), or pixel_<i> over the image's values in row-major order."""
    if dataset.kind == "image":
        return [f"pixel_{i}" for i in range(int(np.prod(dataset.input_shape)))]
    if dataset.feature_names:
        return list(dataset.feature_names)
    return [f"feature_{i}" for i in range(dataset.input_shape[0])]


def serving_input(dataset):
    """What the signature's input takes: [n, features] rows, or for images any layout of
    h*w*c raw pixels per row ([n, h, w], [n, h, w, c], [n, h*w*c]; the rank is left open)."""
    if dataset.kind == "tabular":
        return {"input_shape": [None, *dataset.input_shape]}
    return {"input_shape": None, "pixels_per_row": int(np.prod(dataset.input_shape))}


class Preprocessing(tf.Module):
    """Raw float32 rows -> model inputs, as TensorFlow ops that give bitwise what the run's
    split had: sklearn's StandardScaler transforms float32 data in float32, with its mean and
    scale cast to float32; pixels are divided by the pixel scale and laid out as input_shape.
    The scaler's statistics are variables, so a traced signature can serve another run's."""

    def __init__(self, preprocessing, input_shape):
        super().__init__(name="preprocessing")
        self.input_shape = tuple(input_shape)
        self.pixel_scale = preprocessing.get("pixel_scale")
        if self.pixel_scale is None:
            self.mean = tf.Variable(_f32(preprocessing["mean"]), trainable=False, name="mean")
            self.scale = tf.Variable(_f32(preprocessing["scale"]), trainable=False, name="scale")

    def assign(self, preprocessing):
        """Takes another run's statistics (same kind and shapes)."""
        if self.pixel_scale is None:
            self.mean.assign(_f32(preprocessing["mean"]))
            self.scale.assign(_f32(preprocessing["scale"]))

    def __call__(self, x):
        if self.pixel_scale is None:
            return (x - self.mean) / self.scale
        size = int(np.prod(self.input_shape))
        per_row = tf.reduce_prod(tf.shape(x)[1:])
        message = f"each row must hold {size} pixels ({'x'.join(map(str, self.input_shape))})"
        with tf.control_dependencies([tf.debugging.assert_equal(per_row, size, message)]):
            return tf.reshape(x / np.float32(self.pixel_scale), [-1, *self.input_shape])


def _f32(values):
    return np.asarray(values, np.float32)


class _Serving:
    """The SavedModel's module and traced signature for one model object. A sweep worker's
    runs of one structure train the same (reused) model object, so their exports trace once and
    differ only in variable values (tracing cost ~0.06 s a run)."""

    def __init__(self, model, dataset):
        self.model = model
        self.key = _serving_key(dataset)
        self.prep = prep = Preprocessing(dataset.preprocessing, dataset.input_shape)
        names = tf.constant(list(dataset.class_names))
        shape = None if dataset.kind == "image" else [None, *dataset.input_shape]
        spec = tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)

        # No autograph: nothing here branches on tensors, and converting Keras's code costs ~0.4 s.
        @tf.function(input_signature=[spec], autograph=False)
        def serve(features):
            logits = model(prep(features), training=False)
            probabilities = tf.nn.softmax(tf.cast(logits, tf.float32))
            index = tf.argmax(probabilities, axis=-1)
            name = tf.gather(names, index)
            return {"probabilities": probabilities, "class_index": index, "class_name": name}

        # Only the variables, not the Keras object graph: the signature is all a server needs
        # (the .keras file is the Keras artifact), and saving is faster.
        self.module = tf.Module()
        self.module.variables_ = list(model.variables)
        self.module.preprocessing = prep
        self.module.class_names = tf.Variable(names, trainable=False, name="class_names")
        self.signature = serve.get_concrete_function()

    def serves(self, model, dataset):
        return self.model is model and self.key == _serving_key(dataset)


def _serving_key(dataset):
    pre = dataset.preprocessing
    return (
        dataset.kind,
        tuple(dataset.input_shape),
        tuple(dataset.class_names),
        tuple(sorted(pre)),
        pre.get("pixel_scale"),
    )


_last_serving = []  # the last export's _Serving (holding its model: ids are never reused)


def save_serving(path, model, dataset):
    """Writes the SavedModel: `serving_default(features)` -> probabilities, class index, name."""
    if _last_serving and _last_serving[0].serves(model, dataset):
        serving = _last_serving[0]
        serving.prep.assign(dataset.preprocessing)
    else:
        serving = _Serving(model, dataset)
        _last_serving[:] = [serving]
    tf.saved_model.save(serving.module, path, signatures={SIGNATURE: serving.signature})
