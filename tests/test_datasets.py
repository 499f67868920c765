"""More datasets and models: tfds builders, the unprepared-dataset error, sklearn sets, CNN."""

import time

import pytest

from tests.conftest import read_metrics, run_train


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    from tests.tfds_toy import ToyBlobs, ToyImages

    data_dir = tmp_path_factory.mktemp("tfds")
    for builder in (ToyBlobs(data_dir=str(data_dir)), ToyImages(data_dir=str(data_dir))):
        builder.download_and_prepare()
    return data_dir


def test_tfds_tabular_builder_trains_through_train_py(tfds_dir, logdir):
    proc = run_train(
        "--dataset=tfds:toy_blobs",
        f"--data_dir={tfds_dir}",
        "--epochs=30",
        "--optimizer=adam",
        "--hidden=32,16",
        f"--logdir={logdir}",
        "--run_name=blobs",
        check=0,
    )
    assert "tfds:toy_blobs, 192 train / 48 val / 60 test rows, input (5,), 3 classes" in proc.stderr
    assert read_metrics(logdir / "blobs")["final"]["test_accuracy"] >= 0.9


def test_tfds_image_builder_trains_the_cnn(tfds_dir, logdir):
    proc = run_train(
        "--dataset=tfds:toy_images",
        f"--data_dir={tfds_dir}",
        "--model=cnn",
        "--conv_filters=8",
        "--cnn_dense=16",
        "--optimizer=adam",
        "--learning_rate=0.01",
        "--epochs=15",
        "--batch_size=32",
        f"--logdir={logdir}",
        "--run_name=img",
        check=0,
    )
    assert "160 train / 40 val / 80 test rows, input (12, 12, 1), 4 classes" in proc.stderr
    assert read_metrics(logdir / "img")["final"]["test_accuracy"] >= 0.9


def test_unprepared_tfds_dataset_fails_fast_with_one_line(tmp_path, logdir):
    start = time.time()
    proc = run_train(
        "--dataset=tfds:mnist",
        f"--data_dir={tmp_path}/empty",
        "--epochs=1",
        f"--logdir={logdir}",
        env={"NO_PROXY": "*"},
    )
    assert time.time() - start < 10
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("train.py: error:")]
    assert len(errors) == 1 and "'mnist' is not prepared" in errors[0]
    assert "tfds build mnist" in errors[0] and not logdir.exists()


def test_unknown_tfds_name_and_model_name(tmp_path, logdir):
    proc = run_train(
        "--dataset=tfds:no_such_set_xyz",
        f"--data_dir={tmp_path}",
        "--epochs=1",
        f"--logdir={logdir}",
        check=2,
    )
    assert "tfds dataset 'no_such_set_xyz' is unknown or not prepared" in proc.stderr
    proc = run_train("--model=transformer", "--epochs=1", f"--logdir={logdir}", check=2)
    assert "unknown --model='transformer'" in proc.stderr
    proc = run_train("--model=cnn", "--epochs=1", f"--logdir={logdir}", check=2)
    assert "--model=cnn needs image data, but iris is tabular" in proc.stderr
    assert not logdir.exists()


@pytest.mark.parametrize("name, classes", [("wine", 3), ("breast_cancer", 2), ("digits", 10)])
def test_every_sklearn_set_trains(name, classes, logdir):
    proc = run_train(
        f"--dataset={name}",
        "--epochs=40",
        "--optimizer=adam",
        "--learning_rate=0.001",
        f"--logdir={logdir}",
        "--run_name=r",
        check=0,
    )
    assert f"{classes} classes" in proc.stderr
    m = read_metrics(logdir / "r")
    assert m["final"]["test_accuracy"] > 1.5 / classes  # well above chance


def test_cnn_on_digits_beats_the_majority_class_by_far(logdir):
    run_train(
        "--dataset=digits",
        "--model=cnn",
        "--optimizer=adam",
        "--learning_rate=0.003",
        "--epochs=15",
        "--batch_size=64",
        "--reg=dropout,l2",
        "--all_layers",
        "--l2=1e-4",
        "--dropout_rate=0.2",
        f"--logdir={logdir}",
        "--run_name=cnn",
        check=0,
    )
    m = read_metrics(logdir / "cnn")
    majority = 37 / 360  # the largest digits class in the 20% test split
    assert m["final"]["test_accuracy"] >= 0.9 > 5 * majority
    assert set(m["weights"]) == {"conv0", "conv1", "dense2", "output"}


def test_csv_dataset_through_train_py(tmp_path, logdir):
    rows = ["f1,f2,label"] + [
        f"{i % 7},{(i * 3) % 5},{'yes' if i % 7 > 3 else 'no'}" for i in range(100)
    ]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(rows) + "\n")
    run_train(
        f"--dataset=csv:{path}",
        "--epochs=30",
        "--optimizer=adam",
        "--hidden=16",
        f"--logdir={logdir}",
        "--run_name=csv",
        check=0,
    )
    assert read_metrics(logdir / "csv")["final"]["test_accuracy"] >= 0.9
    bad = tmp_path / "bad.csv"
    bad.write_text("f1,label\n1,a\n,b\n")
    proc = run_train(
        f"--dataset=csv:{bad}", "--epochs=1", f"--logdir={logdir}", "--run_name=bad", check=2
    )
    assert "line 3, column 'f1': missing value" in proc.stderr
    assert not (logdir / "bad").exists()
