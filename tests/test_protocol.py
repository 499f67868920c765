"""The train/validation/test protocol: splits, the test split's single use, early stopping,
the overfitting regimes (--train_size, --label_noise), and their bad values."""

import numpy as np
import pytest
import tensorflow as tf

import data
from data.dataset import Dataset, Split
from models import build
from tests.conftest import kill_after_checkpoint, read_metrics, run_train
from tests.test_models import config
from training import optim
from training.loop import Trainer


def _load(**flags):
    return data.for_config(config(**flags))


def _labels(split):
    return split.y.argmax(1)


def test_three_splits_are_disjoint_stratified_and_independent_of_the_regularizer():
    ds = _load(dataset="wine", seed="3")
    rows = {name: set(ds.indices[name].tolist()) for name in ("train", "val", "test")}
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"]
    assert not rows["val"] & rows["test"]
    assert len(rows["train"] | rows["val"] | rows["test"]) == 178  # every row used once
    # 20% test, then 20% of the rest for validation; every split keeps the class mix.
    assert (len(ds.train), len(ds.val), len(ds.test)) == (113, 29, 36)
    whole = np.bincount(_labels(ds.train), minlength=3) / len(ds.train)
    for split in (ds.val, ds.test):
        share = np.bincount(_labels(split), minlength=3) / len(split)
        np.testing.assert_allclose(share, whole, atol=0.05)
    for flags in ({"reg": "l1"}, {"reg": "dropout", "all_layers": "true"}, {"optimizer": "adam"}):
        other = _load(dataset="wine", seed="3", **flags)
        for name in ("train", "val", "test"):
            np.testing.assert_array_equal(other.indices[name], ds.indices[name])
    assert ds.fingerprint() == _load(dataset="wine", seed="3", reg="l2").fingerprint()
    assert ds.fingerprint() != _load(dataset="wine", seed="4").fingerprint()


def test_the_tutorial_protocol_validates_on_the_test_split():
    ds = _load(validate_on="test")
    assert ds.validates_on_test and ds.val is ds.test and (len(ds.train), len(ds.test)) == (120, 30)


def test_train_size_and_label_noise_are_seeded_and_leave_val_and_test_alone():
    base = _load(dataset="digits")
    small = _load(dataset="digits", train_size="100", label_noise="0.2")
    np.testing.assert_array_equal(small.indices["test"], base.indices["test"])
    np.testing.assert_array_equal(small.indices["val"], base.indices["val"])
    np.testing.assert_array_equal(small.test.y, base.test.y)  # test labels stay clean
    np.testing.assert_array_equal(small.test.x, base.test.x)
    assert len(small.train) == 100 and set(small.indices["train"]) < set(base.indices["train"])
    # Stratified: each of the 10 classes keeps its share of the 100 rows (10 +- 1)...
    position = {row: i for i, row in enumerate(base.indices["train"])}
    clean = base.train.y[[position[row] for row in small.indices["train"]]]
    counts = np.bincount(clean.argmax(1), minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11
    # ...and exactly 20% of the training and validation labels moved to another class.
    moved = (small.train.y.argmax(1) != clean.argmax(1)).sum()
    assert moved == 20 and len(small.flipped["train"]) == 20
    val_moved = (small.val.y.argmax(1) != base.val.y.argmax(1)).sum()
    assert val_moved == round(0.2 * len(base.val))
    again = _load(dataset="digits", train_size="100", label_noise="0.2")
    np.testing.assert_array_equal(again.train.y, small.train.y)
    other = _load(dataset="digits", train_size="100", label_noise="0.2", seed="1")
    assert not np.array_equal(other.indices["train"], small.indices["train"])
    # The noise on validation does not depend on --train_size.
    bigger = _load(dataset="digits", train_size="300", label_noise="0.2")
    np.testing.assert_array_equal(bigger.val.y, small.val.y)


def test_the_test_split_is_never_evaluated_during_training():
    """A test split of NaN features: any use of it in the loop would make the history NaN (tanh
    everywhere: a ReLU would turn NaN into 0)."""
    cfg = config(epochs="6", batch_size="32", reg="dropout", hist_every="2", last_activation="tanh")
    ds = _load()
    poisoned = Split(np.full_like(ds.test.x, np.nan), ds.test.y)
    ds = Dataset(ds.name, ds.kind, ds.train, ds.val, poisoned, ds.class_names)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = build(cfg, ds)
        optimizer = optim.make(cfg, 3)
    trainer = Trainer(model, optimizer, strategy, ds, cfg)
    assert int(trainer.run(tf.constant(0, tf.int64), tf.constant(6, tf.int64))) == -1
    assert np.isfinite(trainer.history.numpy()).all()
    assert trainer.evaluations == {}
    assert np.isnan(trainer.evaluate(ds.test, "test")["data_loss"])
    assert trainer.evaluations == {"test": 1}


ES = [
    "--reg=none",
    "--hidden=64,32",
    "--optimizer=adam",
    "--learning_rate=0.01",
    "--epochs=300",
    "--batch_size=32",
    "--early_stopping_patience=10",
    "--checkpoint_every=10",
    "--log_every=0",
]


@pytest.fixture(scope="module")
def early_stopped(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("es")
    run_train(*ES, f"--logdir={logdir}", "--run_name=es", check=0)
    return logdir / "es"


@pytest.mark.slow
def test_early_stopping_stops_restores_the_best_weights_and_keeps_them_apart(early_stopped):
    m = read_metrics(early_stopped)
    best, stopped = m["best_epoch"], m["stopped_epoch"]
    assert stopped == best + 10 == m["epochs_completed"] < 300
    val = m["history"]["val_data_loss"][:stopped]
    assert val[best - 1] == min(val)  # no later epoch beat it by min_delta (0)
    # The final metrics are those of the best epoch's weights; test evaluated once, on them.
    assert m["final"]["epoch"] == best
    assert m["final"]["val_data_loss"] == val[best - 1]
    assert m["test_evaluations"] == 1
    best_dir = early_stopped / "checkpoints" / "best"
    assert tf.train.latest_checkpoint(str(best_dir)).endswith(f"ckpt-{best}")

    # The best checkpoint holds the best epoch's first kernel; the rolling checkpoint at the
    # stop holds the model as it was then (a later, worse kernel) and the same best copy.
    def first_kernels(directory, prefix):
        reader = tf.train.load_checkpoint(str(directory))
        shapes = reader.get_variable_to_shape_map()
        return [
            reader.get_tensor(k) for k in shapes if k.startswith(prefix) and shapes[k] == [4, 64]
        ]

    (best_kernel,) = first_kernels(best_dir, "weights/")
    (kept,) = first_kernels(early_stopped / "checkpoints", "best_weights/")
    (at_stop,) = first_kernels(early_stopped / "checkpoints", "optimizer/_trainable_variables/")
    np.testing.assert_array_equal(kept, best_kernel)
    assert not np.array_equal(at_stop, best_kernel)


@pytest.mark.slow
def test_early_stopping_survives_sigkill_bitwise(early_stopped, tmp_path):
    args = [*ES, f"--logdir={tmp_path}", "--run_name=k"]
    kill_after_checkpoint(args, tmp_path / "k", 20)
    run_train(*args, check=0)
    a, b = read_metrics(early_stopped), read_metrics(tmp_path / "k")
    assert b["resumed_from_epoch"] > 0
    for key in ("final", "history", "weights", "best_epoch", "stopped_epoch"):
        assert a[key] == b[key], key


# Bad values of the protocol flags: one line, exit 2, no run directory.
BAD = [
    (["--val_fraction=0"], "--val_fraction must be in (0, 1)"),
    (["--val_fraction=1.5"], "--val_fraction must be in (0, 1)"),
    (["--val_fraction=nan"], "--val_fraction must be in (0, 1)"),
    (["--val_fraction=0.01"], "cannot hold out a stratified validation split"),
    (["--test_fraction=0.01"], "cannot hold out a stratified test split"),
    (["--train_size=500"], "--train_size=500 is larger than the 96 training rows"),
    (["--train_size=2"], "cannot hold out a stratified --train_size split"),
    (["--train_size=-1"], "--train_size must be >= 0"),
    (["--label_noise=1"], "--label_noise must be in [0, 1)"),
    (["--label_noise=-0.1"], "--label_noise must be in [0, 1)"),
    (["--validate_on=test", "--val_fraction=0.3"], "--val_fraction does nothing here"),
    (["--early_stopping_patience=-1"], "--early_stopping_patience must be >= 0"),
    (["--early_stopping_min_delta=0.1"], "--early_stopping_min_delta does nothing here"),
    (["--early_stopping_patience=3", "--early_stopping_min_delta=inf"], "must be >= 0"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args, message", BAD)
def test_bad_protocol_values(logdir, args, message):
    proc = run_train(*args, "--epochs=2", f"--logdir={logdir}")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("train.py: error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert not logdir.exists() or not any(logdir.iterdir())
