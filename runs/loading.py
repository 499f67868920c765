"""A run directory for notebooks: `load_run(run_dir)` -> config, metrics, history, model, data.

    from runs import load_run
    run = load_run("runs_out/iris_mlp_l1-0.01_all_sgd-0.01_bs128_s0_1a2b3c4d")
    run.metrics["final"]["test_accuracy"], run.history["val_accuracy"]
    logits = run.model(run.splits.test.x)       # the exported Keras model, preprocessed inputs
    probs = run.predict(raw_rows)               # the SavedModel, raw features

TensorFlow is imported only when a model is loaded: reading a run's numbers stays fast.
"""

import dataclasses
import functools
import json
import os

import numpy as np

from errors import UserError, reason_of
from runs import model_files as files

WEIGHTS = ("final", "best")


def load_run(run_dir):
    """The run written by train.py in `run_dir`; raises errors.UserError when it is not one, or
    has not ended (no metrics.json)."""
    return Run(os.fspath(run_dir))


class Run:
    """One run directory. Files are read when first asked for, then kept."""

    def __init__(self, run_dir):
        self.dir = run_dir
        if not os.path.isdir(run_dir):
            raise UserError(f"run directory {run_dir} does not exist")
        if not os.path.exists(self._path("config.json")):
            raise UserError(
                f"{run_dir} is not a run directory (it has no config.json); pass a directory "
                "that train.py wrote, e.g. runs_out/<run name>"
            )
        if not os.path.exists(self._path("metrics.json")):
            raise UserError(
                f"run {run_dir} has not ended (no metrics.json): it is training or was "
                "interrupted; rerun its train.py command to finish it"
            )

    def __repr__(self):
        return f"Run({self.dir!r}, status={self.status!r})"

    def _path(self, *parts):
        return os.path.join(self.dir, *parts)

    def _json(self, *parts):
        path = self._path(*parts)
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError as e:
            raise UserError(f"run {self.dir} has no {os.path.join(*parts)}") from e
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read {path}: {e}") from e

    # ---- the numbers: plain files, no TensorFlow ----------------------------------------------
    @functools.cached_property
    def config(self):
        """config.json: every flag value of the run."""
        return self._json("config.json")

    @functools.cached_property
    def metrics(self):
        """metrics.json: status, final metrics, best epoch, history, weight statistics."""
        return self._json("metrics.json")

    @property
    def status(self):
        return self.metrics.get("status")

    @functools.cached_property
    def history(self):
        """The per-epoch table: {"epoch": 1..n, column: values} as NumPy arrays."""
        table = self.metrics.get("history", {})
        n = len(next(iter(table.values()), []))
        out = {"epoch": np.arange(1, n + 1)}
        out.update({name: np.asarray(values, np.float64) for name, values in table.items()})
        return out

    def history_frame(self):
        """run.history as a pandas DataFrame indexed by epoch (pandas is optional here)."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError(
                "run.history_frame() needs pandas, which regstudy does not install; "
                "`pip install pandas`, or use run.history (a dict of NumPy arrays)"
            ) from e
        return pd.DataFrame(self.history).set_index("epoch")

    @functools.cached_property
    def meta(self):
        """model/meta.json: class and feature names, preprocessing, input shape, weights."""
        self._need_model()
        return self._json(files.MODEL_DIR, files.META_FILE)

    @property
    def class_names(self):
        return list(self.meta["class_names"])

    def _need_model(self):
        if os.path.isdir(self._path(files.MODEL_DIR)):
            return
        if self.status != "finished":
            raise UserError(
                f"run {self.dir} ended {self.status}: only a finished run exports its model "
                f"({files.MODEL_DIR}/); its history and metrics are in run.history, run.metrics"
            )
        raise UserError(
            f"run {self.dir} finished but has no {files.MODEL_DIR}/ (it predates model export, "
            "or the export failed); rerun its train.py command with another --logdir"
        )

    # ---- the run's configuration and data ------------------------------------------------------
    def run_config(self):
        """The run's options.RunConfig; flags added since the run take their defaults (which,
        by the project's rule, do what the code did before they existed)."""
        import options

        defaults = _default_values()
        return options.RunConfig({**defaults, **self.config}, defaults)

    @functools.cached_property
    def splits(self):
        """The run's data.Dataset (.train/.val/.test: preprocessed x, one-hot y), rebuilt from
        its flags and checked against the fingerprint the run recorded."""
        import data

        dataset = data.for_config(self.run_config())
        recorded = self.metrics.get("data_fingerprint")
        if recorded and dataset.fingerprint() != recorded:
            raise UserError(
                f"the data changed since the run: {dataset.name} now gives fingerprint "
                f"{dataset.fingerprint()}, run {self.dir} trained on {recorded}; restore the "
                "data it used to get its exact splits"
            )
        return dataset

    # ---- models -------------------------------------------------------------------------------
    @functools.cached_property
    def model(self):
        """The exported Keras model (the run's final weights); takes preprocessed inputs and
        returns logits, as in training."""
        return self.load_model("final")

    def load_model(self, weights="final"):
        """A new Keras model with the run's "final" weights (model/model.keras: what the test
        split was evaluated on) or early stopping's "best" (checkpoints/best/)."""
        if weights not in WEIGHTS:
            raise UserError(f"weights={weights!r}: use one of {', '.join(WEIGHTS)}")
        if weights == "best":
            return self._best_model()
        self._need_model()
        from cluster.tf_runtime import import_tensorflow

        import_tensorflow()
        import keras

        import models  # noqa: F401  (registers the model classes the file names)

        return keras.models.load_model(self._path(files.MODEL_DIR, files.KERAS_FILE))

    def _best_model(self):
        cfg = self.run_config()
        directory = self._path("checkpoints", "best")
        if cfg.early_stopping_patience <= 0:
            raise UserError(
                f"run {self.dir} did not use early stopping (--early_stopping_patience=0), so it "
                "has no best weights; use weights='final'"
            )
        from cluster.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        path = tf.train.latest_checkpoint(directory)
        if path is None:
            raise UserError(f"run {self.dir} has no best-weights checkpoint in {directory}")
        model = self._build(cfg)
        # The layout training/controller.py saves: the model's weights as a list, and the epoch.
        epoch = tf.Variable(0, dtype=tf.int64)
        ckpt = tf.train.Checkpoint(weights=list(model.weights), epoch=epoch)
        try:
            ckpt.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise UserError(
                f"{path} does not fit the model the run's flags build now: {reason_of(e)}"
            ) from e
        return model

    def _build(self, cfg):
        """models.build for the run, from meta.json's shapes (no data needed)."""
        import keras

        import models
        from training import optim

        meta = self.meta
        previous = keras.mixed_precision.global_policy()
        optim.set_precision_policy(cfg.mixed_precision)  # the dtypes the run's layers had
        try:
            return models.build(cfg, _Shapes(meta))
        finally:
            keras.mixed_precision.set_global_policy(previous)

    # ---- predictions --------------------------------------------------------------------------
    @functools.cached_property
    def serving(self):
        """The SavedModel's serving_default signature (raw features in)."""
        self._need_model()
        from cluster.tf_runtime import quiet_startup

        with quiet_startup():  # loading a SavedModel starts TF's runtime: hide its chatter
            import tensorflow as tf

            loaded = tf.saved_model.load(self._path(files.MODEL_DIR, files.SAVED_MODEL_DIR))
        return loaded.signatures[files.SIGNATURE]

    def predict(self, raw_x):
        """Class probabilities [n, classes] for RAW rows (the run's preprocessing is applied):
        [n, features] for tabular data; for images [n, h, w], [n, h, w, c] or [n, h*w*c]."""
        x = np.asarray(raw_x, np.float32)
        meta = self.meta
        size = int(np.prod(meta["input_shape"]))
        if x.ndim < 2 or x[0].size != size or (meta["kind"] == "tabular" and x.ndim != 2):
            what = f"[n, {size}]" if meta["kind"] == "tabular" else f"{size} pixels per row"
            raise UserError(f"run {self.dir} predicts from raw rows of {what}; got {x.shape}")
        serving = self.serving
        import tensorflow as tf

        return serving(**{files.INPUT_NAME: tf.constant(x)})["probabilities"].numpy()


@dataclasses.dataclass(frozen=True)
class _Shapes:
    """What models.build reads of a dataset, from meta.json."""

    meta: dict

    @property
    def name(self):
        return self.meta["dataset"]

    @property
    def kind(self):
        return self.meta["kind"]

    @property
    def num_classes(self):
        return len(self.meta["class_names"])

    @property
    def input_shape(self):
        return tuple(self.meta["input_shape"])

    @property
    def train(self):
        x = np.zeros([2, *self.meta["input_shape"]], np.float32)
        return _Split(x)


@dataclasses.dataclass(frozen=True)
class _Split:
    x: np.ndarray


@functools.cache
def _default_values():
    """Every train.py flag's default value, as config.json stores them."""
    from absl import flags

    import options

    fv = flags.FlagValues()
    options.define_flags(fv)
    fv(["train.py"])
    return options.config_from_flags(fv).values
