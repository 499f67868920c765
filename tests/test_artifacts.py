"""A finished run is an artifact: model/ (.keras, SavedModel, meta.json), load_run, predict.py."""

import csv
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import models
import options
import regularizers
from data import load, load_raw
from errors import UserError
from runs import export as export_mod
from runs import load_run
from tests.conftest import ROOT, read_metrics, run_train

IRIS = load("iris", val_fraction=0.2)
DIGITS = load("digits")
TOL = 1e-6


def config(**overrides):
    fv = flags.FlagValues()
    options.define_flags(fv)
    fv(["x"] + [f"--{k}={v}" for k, v in overrides.items()])
    return options.config_from_flags(fv)


def probabilities(model, x):
    return tf.nn.softmax(model(x, training=False)).numpy()


def raw_rows(dataset, split):
    """The source's unprocessed rows of `split`, as the run's data had them."""
    raw = load_raw(dataset.name)
    return np.asarray(raw.x[dataset.indices[split]], np.float32)


def exported(tmp_path, dataset, **flags_):
    """(in-memory model, run_dir) after exporting a model whose BatchNorm statistics moved."""
    cfg = config(**flags_)
    model = models.build(cfg, dataset)
    for _ in range(5):  # training-mode calls: moving mean/variance leave their 0/1 start
        model(dataset.train.x[:64], training=True)
    active = regularizers.resolve(cfg, models.num_hidden(cfg))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    export_mod.export(str(run_dir), model, dataset, cfg, {"final": {"epoch": 7}}, active)
    return model, run_dir


# ---- the export itself, in-process: the in-memory model is the reference ------------------------


def test_keras_file_and_saved_model_predict_as_the_in_memory_model(tmp_path):
    model, run_dir = exported(
        tmp_path, IRIS, reg="dropout,batchnorm", all_layers="true", hidden="16,8"
    )
    bn = model.blocks[1].bn
    assert np.abs(bn.moving_mean.numpy()).max() > 1e-3  # inference uses moved statistics
    want = probabilities(model, IRIS.test.x)

    loaded = keras.models.load_model(run_dir / "model" / "model.keras")  # no custom_objects
    assert type(loaded) is type(model)
    assert [(s, a, type(x)) for s, a, x in loaded.blocks[1].inserted()] == [
        ("normalize", "bn", keras.layers.BatchNormalization),
        ("noise", "dropout", keras.layers.Dropout),
    ]
    assert loaded.blocks[1].dropout.rate == 0.5 and loaded.blocks[1].dropout.seed == 1001
    np.testing.assert_allclose(probabilities(loaded, IRIS.test.x), want, rtol=0, atol=TOL)
    np.testing.assert_array_equal(loaded.blocks[1].bn.moving_mean.numpy(), bn.moving_mean.numpy())

    serve = tf.saved_model.load(str(run_dir / "model" / "saved_model")).signatures[
        "serving_default"
    ]
    out = serve(features=tf.constant(raw_rows(IRIS, "test")))  # raw rows: scaler inside
    np.testing.assert_allclose(out["probabilities"].numpy(), want, rtol=0, atol=TOL)
    index = np.argmax(want, axis=-1)
    np.testing.assert_array_equal(out["class_index"].numpy(), index)
    names = [n.decode() for n in out["class_name"].numpy()]
    assert names == [IRIS.class_names[i] for i in index]


def test_an_export_of_the_same_model_object_serves_the_new_runs_values(tmp_path):
    """A sweep worker's next run of a structure exports the same (reused) model object: the
    traced signature is reused, and serves that run's weights and scaler, not the last one's."""
    other = load("iris", val_fraction=0.2, seed=1)
    assert other.preprocessing["mean"] != IRIS.preprocessing["mean"]
    cfg = config(hidden="8")
    model = models.build(cfg, IRIS)
    for name, dataset in (("first", IRIS), ("second", other)):
        if name == "second":  # new weights, as continue_as assigns them
            for w in model.trainable_variables:
                w.assign(w * 1.5 + 0.01)
        path = tmp_path / name
        export_mod.save_serving(str(path), model, dataset)
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        got = serve(tf.constant(raw_rows(dataset, "test")))["probabilities"].numpy()
        want = probabilities(model, dataset.test.x)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    assert export_mod._last_serving[0].model is model  # the second export reused the first's


@pytest.mark.parametrize("dataset", [IRIS, DIGITS], ids=["scaler", "pixels"])
def test_signature_preprocessing_is_bitwise_the_runs(dataset):
    """Raw rows through the signature's preprocessing give bitwise the inputs the run trained
    and was evaluated on (sklearn scales float32 data in float32)."""
    prep = export_mod.Preprocessing(dataset.preprocessing, dataset.input_shape)
    for split in ("train", "test"):
        got = prep(tf.constant(raw_rows(dataset, split))).numpy()
        np.testing.assert_array_equal(got, getattr(dataset, split).x)


def test_meta_json_describes_the_model(tmp_path):
    _, run_dir = exported(tmp_path, IRIS, reg="batchnorm", hidden="8")
    meta = json.loads((run_dir / "model" / "meta.json").read_text())
    assert meta["class_names"] == ["setosa", "versicolor", "virginica"]
    assert meta["feature_names"] == list(load_raw("iris").feature_names)
    assert meta["input_columns"] == meta["feature_names"]
    assert meta["preprocessing"] == IRIS.preprocessing
    assert meta["input_shape"] == [4] and meta["kind"] == "tabular"
    assert meta["data_fingerprint"] == IRIS.fingerprint() and meta["dataset"] == "iris"
    assert (meta["weights"], meta["weights_epoch"], meta["finalized_by"]) == ("final", 7, [])
    assert meta["serving"]["input_shape"] == [None, 4]
    assert sorted(os.listdir(run_dir)) == ["model"]  # the temporary directory is gone


def test_image_signature_takes_raw_pixels_in_any_layout(tmp_path):
    model, run_dir = exported(
        tmp_path, DIGITS, model="cnn", conv_filters="4", cnn_dense="8", reg="batchnorm,dropout"
    )
    want = probabilities(model, DIGITS.test.x)
    serve = tf.saved_model.load(str(run_dir / "model" / "saved_model")).signatures[
        "serving_default"
    ]
    pixels = raw_rows(DIGITS, "test")  # [n, 8, 8], values 0..16
    for x in (pixels, pixels[..., None], pixels.reshape(len(pixels), 64)):
        got = serve(features=tf.constant(x))["probabilities"].numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    with pytest.raises(tf.errors.InvalidArgumentError, match="64 pixels"):
        serve(features=tf.constant(pixels[:, :7]))
    meta = json.loads((run_dir / "model" / "meta.json").read_text())
    assert meta["input_columns"] == [f"pixel_{i}" for i in range(64)]
    assert meta["preprocessing"] == {"pixel_scale": 16.0} and meta["input_shape"] == [8, 8, 1]
    loaded = keras.models.load_model(run_dir / "model" / "model.keras")
    np.testing.assert_allclose(probabilities(loaded, DIGITS.test.x), want, rtol=0, atol=TOL)


def test_a_block_serializes_its_core_activation_pool_and_inserted_layers():
    model = models.build(
        config(
            model="cnn", conv_filters="4", cnn_dense="8", reg="batchnorm,dropout", all_layers="1"
        ),
        DIGITS,
    )
    block = model.blocks[0]
    config_ = keras.saving.serialize_keras_object(block)
    assert config_["registered_name"] == "regstudy>Block"
    copy = keras.saving.deserialize_keras_object(json.loads(json.dumps(config_)))
    assert (type(copy.core), copy.core.filters, copy.core.name) == (keras.layers.Conv2D, 4, "conv0")
    assert copy.activation_name == "tanh" and isinstance(copy.pool, keras.layers.MaxPooling2D)
    got = [(s, a, type(x), x.get_config()) for s, a, x in copy.inserted()]
    assert got == [(s, a, type(x), x.get_config()) for s, a, x in block.inserted()]
    assert [g[:2] for g in got] == [("normalize", "bn"), ("noise", "dropout")]


def test_mixed_precision_models_load_with_their_dtype_policy(tmp_path):
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = models.build(config(hidden="8,4", reg="batchnorm"), IRIS)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")  # under the float32 global policy
    assert [b.core.dtype_policy.name for b in loaded.blocks] == ["mixed_bfloat16"] * 2
    assert loaded.out.dtype_policy.name == "float32"
    x = IRIS.test.x
    np.testing.assert_array_equal(probabilities(loaded, x), probabilities(model, x))


@pytest.mark.parametrize("name", [n for n in regularizers.REGISTRY if n != "none"])
def test_every_regularizer_round_trips_through_the_keras_file(tmp_path, name):
    """The plug-in contract: whatever layers a regularizer inserts survive .keras serialization
    (a custom layer must be registered serializable)."""
    try:
        cfg = config(reg=name, hidden="8,4")
        model = models.build(cfg, IRIS)
    except UserError as e:  # needs other flags (an optimizer) or images: not a model question
        pytest.skip(str(e))
    model(IRIS.train.x[:32], training=True)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    want = [(s, a, type(x).__name__) for b in model.blocks for s, a, x in b.inserted()]
    assert [(s, a, type(x).__name__) for b in loaded.blocks for s, a, x in b.inserted()] == want
    x = IRIS.test.x
    np.testing.assert_allclose(probabilities(loaded, x), probabilities(model, x), atol=TOL)


def test_a_failed_export_leaves_no_model_directory(tmp_path, monkeypatch):
    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_mod, "save_serving", disk_full)
    with pytest.raises(OSError, match="No space"):
        exported(tmp_path, IRIS, hidden="8")
    assert os.listdir(tmp_path / "run") == []  # neither model/ nor a temporary directory


# ---- load_run errors: fabricated directories, no training needed -------------------------------


def _fake_run(path, status="finished", with_model=False):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"dataset": "iris"}))
    (path / "metrics.json").write_text(
        json.dumps({"status": status, "history": {"val_accuracy": [0.5, 0.75]}})
    )
    if with_model:
        (path / "model").mkdir()
        meta = {"input_columns": ["a", "b"], "class_names": ["x", "y"], "input_shape": [2]}
        (path / "model" / "meta.json").write_text(json.dumps(meta))
    return path


def test_load_run_errors_are_one_clear_line(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_run(tmp_path / "nope")
    with pytest.raises(UserError, match=r"not a run directory \(it has no config.json\)"):
        load_run(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="has not ended .no metrics.json"):
        load_run(tmp_path)
    diverged = load_run(_fake_run(tmp_path / "d", status="diverged"))
    np.testing.assert_array_equal(diverged.history["val_accuracy"], [0.5, 0.75])  # still readable
    np.testing.assert_array_equal(diverged.history["epoch"], [1, 2])
    with pytest.raises(UserError, match="ended diverged: only a finished run exports its model"):
        diverged.model  # noqa: B018
    with pytest.raises(UserError, match="finished but has no model/"):
        load_run(_fake_run(tmp_path / "f")).predict([[1.0, 2.0]])
    with pytest.raises(UserError, match="weights='worst': use one of final, best"):
        diverged.load_model("worst")


def test_history_frame_says_pandas_is_optional(tmp_path, monkeypatch):
    run = load_run(_fake_run(tmp_path / "r"))
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(ImportError, match="needs pandas.*use run.history"):
        run.history_frame()


def _predict(*args):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, str(ROOT / "predict.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


BAD_FILES = {
    "missing": (None, "CSV file {path} does not exist; check --input"),
    "no_column": ("a,c\n1,2\n", "has no column 'b'; the run's model reads the 2 columns 'a', 'b'"),
    "text": ("b,a\n1,x\n", "line 2, column 'a': non-numeric feature 'x'"),
    "nan": ("a,b\n1,nan\n", "line 2, column 'b': missing value"),
    "inf": ("a,b,label\n1,2,y\n1,inf,x\n", "line 3, column 'b': 'inf' is not finite"),
    "huge": ("a,b\n1,2\n1e40,0\n", "line 3, column 'a': '1e40' is beyond float32's range"),
    "many": ("a,b\n1,x\n,2\n3,y\n", ": 3 bad cells: line 2, column 'b': non-numeric feature"),
    "header_only": ("a,b\n\n", "has a header but no data rows"),
    "empty": ("", "needs a header row and at least one data row"),
    "fields": ("a,b\n1,2,3\n", "line 2: 3 fields, header has 2"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_predict_py_bad_input_files_are_one_line_exit_2(tmp_path, case):
    """These fail before TensorFlow loads, so a run directory with just meta.json will do."""
    run_dir = _fake_run(tmp_path / "run", with_model=True)
    text, message = BAD_FILES[case]
    path = tmp_path / "in.csv"
    if text is not None:
        path.write_text(text)
    proc = _predict(f"--run_dir={run_dir}", f"--input={path}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("predict.py: error: "), proc.stderr
    assert message.format(path=path) in lines[0]
    assert proc.stdout == ""


def test_predict_py_refuses_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "in.csv").write_text("a\n1\n")
    proc = _predict(f"--run_dir={tmp_path}", f"--input={tmp_path / 'in.csv'}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"predict.py: error: {tmp_path} is not a run directory (it has no config.json); pass a "
        "directory that train.py wrote, e.g. runs_out/<run name>"
    )


# ---- whole runs: train.py exports, load_run and predict.py read -------------------------------


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """Dropout + BatchNorm, stopped early (best epoch 25 of 28): the export is the best."""
    logdir = tmp_path_factory.mktemp("iris")
    args = ["--reg=dropout,batchnorm", "--hidden=16,8", "--epochs=40", "--learning_rate=0.3"]
    args += ["--early_stopping_patience=3", "--log_every=0", "--run_name=r"]
    run_train(*args, f"--logdir={logdir}", check=0)
    return logdir / "r"


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("digits")
    args = ["--dataset=digits", "--model=cnn", "--conv_filters=4", "--cnn_dense=8", "--epochs=2"]
    args += ["--optimizer=adam", "--log_every=0", "--run_name=r"]
    run_train(*args, f"--logdir={logdir}", check=0)
    return logdir / "r"


def _test_accuracy(model, split):
    hits = np.sum(np.argmax(model(split.x, training=False), -1) == np.argmax(split.y, -1))
    return float(np.float32(hits) / np.float32(len(split)))  # float32, as the loop computes it


@pytest.mark.slow
@pytest.mark.parametrize("which", ["iris_run", "digits_run"])
def test_load_run_reproduces_the_test_accuracy(request, which):
    run = load_run(request.getfixturevalue(which))
    metrics = read_metrics(run.dir)
    assert run.metrics == metrics and run.config["seed"] == 0
    assert run.splits.fingerprint() == metrics["data_fingerprint"] == run.meta["data_fingerprint"]
    accuracy = _test_accuracy(run.model, run.splits.test)
    assert accuracy == pytest.approx(metrics["final"]["test_accuracy"], abs=TOL)
    assert len(np.unique(np.argmax(run.model(run.splits.test.x), -1))) > 1  # not one class
    history = run.history
    assert set(history) == {"epoch", *metrics["history"]}
    assert len(history["epoch"]) == metrics["epochs_completed"]
    np.testing.assert_array_equal(history["val_accuracy"], metrics["history"]["val_accuracy"])


@pytest.mark.slow
def test_the_export_holds_early_stoppings_best_weights(iris_run):
    run = load_run(iris_run)
    metrics = run.metrics
    best, stopped = metrics["best_epoch"], metrics["stopped_epoch"]
    assert best < stopped < 40  # it did stop early, so final and last epoch differ
    assert run.meta["weights"] == f"early-stopping best epoch {best}"
    assert run.meta["weights_epoch"] == best == metrics["final"]["epoch"]
    # checkpoints/best/ read into a freshly built model: the same weights as the export.
    restored = run.load_model("best")
    x = run.splits.test.x
    np.testing.assert_array_equal(probabilities(restored, x), probabilities(run.model, x))
    assert metrics["final"]["val_accuracy"] == metrics["history"]["val_accuracy"][best - 1]


@pytest.mark.slow
def test_best_weights_need_early_stopping(digits_run):
    with pytest.raises(UserError, match="did not use early stopping"):
        load_run(digits_run).load_model("best")


@pytest.mark.slow
def test_run_splits_refuse_changed_data(iris_run, tmp_path):
    copy = tmp_path / "r"
    shutil.copytree(iris_run, copy)
    metrics = read_metrics(copy)
    metrics["data_fingerprint"] = "0123456789abcdef"
    (copy / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(UserError, match="^the data changed since the run: iris now gives"):
        load_run(copy).splits  # noqa: B018


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _read_predictions(text):
    rows = list(csv.reader(text.splitlines()))
    return rows[0], rows[1:]


@pytest.mark.slow
def test_predict_py_on_raw_rows_equals_the_runs_predictions(iris_run, tmp_path):
    run = load_run(iris_run)
    split = run.splits.test
    want = probabilities(run.model, split.x)
    raw = load_raw("iris")
    rows = run.splits.indices["test"]
    # Columns in another order, with a label column: matched by name, extras ignored.
    names = list(reversed(raw.feature_names))
    header = ["species", *names]
    data = [
        [
            raw.class_names[raw.labels[i]],
            *(repr(float(raw.x[i, raw.feature_names.index(n)])) for n in names),
        ]
        for i in rows
    ]
    _write_csv(tmp_path / "new.csv", header, data)
    out = tmp_path / "pred.csv"
    proc = _predict(f"--run_dir={iris_run}", f"--input={tmp_path / 'new.csv'}", f"--output={out}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    head, body = _read_predictions(out.read_text())
    assert head == ["row", "predicted", "p_setosa", "p_versicolor", "p_virginica"]
    assert [int(r[0]) for r in body] == list(range(1, len(rows) + 1))
    assert [r[1] for r in body] == [run.class_names[i] for i in np.argmax(want, -1)]
    got = np.array([[float(v) for v in r[2:]] for r in body])
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    # The same through the notebook API, from raw rows.
    np.testing.assert_allclose(run.predict(raw.x[rows]), want, rtol=0, atol=TOL)


@pytest.mark.slow
def test_predict_py_reads_image_pixels_by_column_name(digits_run, tmp_path):
    run = load_run(digits_run)
    want = probabilities(run.model, run.splits.test.x)
    pixels = raw_rows(run.splits, "test").reshape(-1, 64)[:20]
    _write_csv(tmp_path / "img.csv", [f"pixel_{i}" for i in range(64)], pixels.tolist())
    proc = _predict(f"--run_dir={digits_run}", f"--input={tmp_path / 'img.csv'}")  # to stdout
    assert proc.returncode == 0, proc.stderr
    head, body = _read_predictions(proc.stdout)
    assert head == ["row", "predicted", *(f"p_{c}" for c in run.class_names)]
    got = np.array([[float(v) for v in r[2:]] for r in body])
    np.testing.assert_allclose(got, want[:20], rtol=0, atol=TOL)
