"""train.py end to end: accuracy, reproducibility, outputs, trace count, and bad input."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, read_metrics, run_train


def test_default_run_reaches_90_percent_and_writes_its_outputs(logdir):
    proc = run_train(f"--logdir={logdir}", "--reg=l1", "--all_layers", check=0)
    (run_dir,) = logdir.glob("iris_mlp_l1-0.01_all_sgd-0.01_bs128_s0_*")
    assert len(run_dir.name.rsplit("_", 1)[1]) == 8  # readable part + hash of the variant
    m = read_metrics(run_dir)
    assert m["status"] == "finished" and m["epochs_completed"] == 350
    assert m["validated_on"] == "val"  # new runs hold out a validation split by default
    final = m["final"]
    assert final["test_accuracy"] >= 0.90 and final["val_accuracy"] >= 0.90
    # Data loss and penalty reported separately, each penalty by name; the tutorial's loss is
    # their sum.
    assert final["penalty"] == {"l1": final["penalty_total"]} and final["penalty_total"] > 0
    assert final["test_loss"] == pytest.approx(final["test_data_loss"] + final["penalty_total"])
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Loss is {final['test_loss']:.4f},"
    assert lines[1] == f"Accuracy is {final['test_accuracy'] * 100:.2f},"
    assert lines[2] == f"MSE is {final['test_mse']:.4f}"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["reg"] == ["l1"] and config["all_layers"] is True and config["epochs"] == 350
    assert len(m["history"]["val_accuracy"]) == 350
    assert "penalty_l1" in m["history"] and "penalty_l2" not in m["history"]
    assert m["regularized_layers"] == {"l1": [0, 1, 2, 3, 4]}
    assert m["label"] == "L1 0.01 (all layers)"


def test_same_flags_and_seed_give_identical_metrics(logdir):
    args = ["--reg=dropout,batchnorm,l2", "--epochs=30", "--batch_size=32", f"--logdir={logdir}"]
    run_train(*args, "--run_name=a", check=0)
    run_train(*args, "--run_name=b", check=0)
    a, b = read_metrics(logdir / "a"), read_metrics(logdir / "b")
    for key in ("final", "history", "weights", "best_epoch"):
        assert a[key] == b[key], key
    c = run_train(*args, "--run_name=c", "--seed=1", check=0)
    assert c.returncode == 0 and read_metrics(logdir / "c")["history"] != a["history"]


def test_a_reader_that_left_the_pipe_early_costs_no_traceback(logdir):
    """`train.py ... | true`: the final lines go nowhere; the run is complete and the exit quiet
    (cli.exit_fast flushes stdout after the reader is gone)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    cmd = [sys.executable, str(ROOT / "train.py"), "--epochs=2", f"--logdir={logdir}"]
    proc = subprocess.Popen(
        [*cmd, "--run_name=p"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader is gone before the run prints anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    assert "Traceback" not in err and "Broken pipe" not in err
    assert read_metrics(logdir / "p")["status"] == "finished"


@pytest.mark.parametrize(
    "script, args",
    [("train.py", ["--epochs=2", "--run_name=u"]), ("report.py", ["--help"]), ("sweep.py", ["-h"])],
)
def test_a_reader_gone_before_unbuffered_output_costs_no_traceback(logdir, script, args):
    """`PYTHONUNBUFFERED=1 train.py ... | head -1` (or `report.py --help | head -1`): each print
    goes straight to the pipe, and one after the reader left fails at once. The output stops
    there, the program goes on: the run finishes and the exit code is its own."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(ROOT / script), *args]
    if script == "train.py":
        cmd.append(f"--logdir={logdir}")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    assert "Traceback" not in err and "Broken pipe" not in err, err
    if script == "train.py":
        assert read_metrics(logdir / "u")["status"] == "finished"


def test_an_existing_finished_run_is_never_overwritten(logdir):
    run_train("--epochs=2", f"--logdir={logdir}", "--run_name=r", check=0)
    before = (logdir / "r" / "metrics.json").read_text()
    proc = run_train("--epochs=2", f"--logdir={logdir}", "--run_name=r", check=2)
    assert "already holds a finished run" in proc.stderr
    assert (logdir / "r" / "metrics.json").read_text() == before
    proc = run_train("--epochs=3", f"--logdir={logdir}", "--run_name=r", check=2)
    assert (logdir / "r" / "metrics.json").read_text() == before


def test_compiled_loop_traces_once():
    import tensorflow as tf

    from data import load
    from models import build
    from tests.test_models import config
    from training import optim
    from training.loop import Trainer

    cfg = config(epochs="9", batch_size="32", reg="dropout,batchnorm", log_every="0")
    iris = load("iris")
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = build(cfg, iris)
        optimizer = optim.make(cfg, 4)
    trainer = Trainer(model, optimizer, strategy, iris, cfg)
    for first, last in [(0, 3), (3, 6), (6, 9)]:
        assert int(trainer.run(tf.constant(first, tf.int64), tf.constant(last, tf.int64))) == -1
    assert trainer.run.experimental_get_tracing_count() == 1
    assert int(trainer.epoch.numpy()) == 9
    assert int(optimizer.iterations.numpy()) == 9 * 4  # 120 rows / batch 32 -> 4 steps


def test_nan_loss_stops_the_run_as_diverged(logdir):
    proc = run_train(
        "--learning_rate=1e6",
        "--optimizer=sgd",
        "--reg=none",
        "--epochs=50",
        f"--logdir={logdir}",
        "--run_name=nan",
        check=3,
    )
    err = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(err) == 1 and "NaN/inf at epoch" in err[0]
    assert "Traceback" not in proc.stderr
    m = read_metrics(logdir / "nan")
    assert m["status"] == "diverged" and m["diverged_epoch"] >= 1
    assert _hparams_session_status(logdir / "nan") == "STATUS_FAILURE"  # HParams' status column


def _hparams_session_status(run_dir):
    import tensorflow as tf
    from tensorboard.plugins.hparams import api_pb2, metadata

    ends = [
        metadata.parse_session_end_info_plugin_data(v.metadata.plugin_data.content)
        for path in sorted(run_dir.glob("events.out.tfevents*"))
        for event in tf.compat.v1.train.summary_iterator(str(path))
        for v in event.summary.value
        if v.tag == metadata.SESSION_END_INFO_TAG
    ]
    assert len(ends) == 1, ends
    return api_pb2.Status.Name(ends[0].status)


# Each bad input: one clear line, exit 2, no traceback, no run directory.
BAD_FLAGS = [
    (["--reg=l3"], "--reg takes a comma list"),
    (["--l1=-1"], "--l1 must be >= 0"),
    (["--l2=-0.5"], "--l2 must be >= 0"),
    (["--dropout_rate=1.0"], "--dropout_rate values must be numbers in [0, 1)"),
    (["--dropout_rate=-0.1"], "--dropout_rate values must be numbers in [0, 1)"),
    (["--epochs=0"], "--epochs must be in 1..1000000"),
    (["--batch_size=-4"], "--batch_size must be in 1.."),
    (["--hidden=512,abc"], "--hidden must be a comma list of positive integers"),
    (["--layers=0", "--all_layers"], "--layers and --all_layers exclude each other"),
    (["--log_every=-1"], "--log_every must be >= 0"),
    (["--hist_every=-2"], "--hist_every must be >= 0"),
    (["--stats_every=-3"], "--stats_every must be >= 0"),
    (["--sparsity_threshold=0"], "--sparsity_threshold must be > 0"),
    (["--optimizer=adagrad"], "value should be one of"),
    (["--no_such_flag=1"], "Unknown command line flag"),
]
BAD_AFTER_START = [
    (["--reg=l1", "--layers=7"], "--layers index 7 is out of range"),
    (
        ["--reg=dropout", "--layers=0,1", "--dropout_rate=0.5,0.4,0.3"],
        "--dropout_rate has 3 values but Dropout goes after 2 layers",
    ),
    (["--device=gpu"], "--device=gpu but TensorFlow sees no GPU"),
    (["--dataset=nope"], "unknown --dataset='nope'"),
]


def _assert_one_line_error(proc, message):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("train.py: error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr


@pytest.mark.parametrize("args, message", BAD_FLAGS + BAD_AFTER_START)
def test_bad_input_is_one_line_and_leaves_no_run_directory(logdir, args, message):
    proc = run_train(
        *args, "--epochs=2" if "--epochs=0" not in args else "--seed=0", f"--logdir={logdir}"
    )
    _assert_one_line_error(proc, message)
    assert not logdir.exists() or not any(logdir.iterdir())


def test_unwritable_logdir(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    proc = run_train("--epochs=1", f"--logdir={blocker}/logs")
    _assert_one_line_error(proc, "cannot write the run directory")
    assert blocker.read_text() == "not a directory"


def test_mixed_precision_and_xla(logdir):
    # No Dropout here: XLA's stateless random numbers differ from the CPU kernels'.
    base = ["--epochs=20", "--reg=l2,batchnorm", "--batch_size=32", f"--logdir={logdir}"]
    run_train(*base, "--run_name=plain", check=0)
    run_train(*base, "--xla", "--run_name=xla", check=0)
    plain, xla = read_metrics(logdir / "plain"), read_metrics(logdir / "xla")
    for key in plain["history"]:  # XLA on CPU: the same maths, up to float rounding
        assert xla["history"][key] == pytest.approx(plain["history"][key], abs=1e-4), key
    for policy in ("bf16", "fp16"):  # fp16 trains through Keras 3's LossScaleOptimizer
        run_train(
            *base,
            "--reg=l2,dropout",
            f"--mixed_precision={policy}",
            f"--run_name={policy}",
            check=0,
        )
        m = read_metrics(logdir / policy)
        assert m["status"] == "finished" and m["final"]["test_accuracy"] >= 0.6
        assert m["final"]["test_data_loss"] < plain["history"]["val_data_loss"][0] + 0.1


def test_progress_shows_every_tenth_of_a_run(logdir):
    proc = run_train("--epochs=30", "--log_every=0", f"--logdir={logdir}", check=0)
    epochs = [
        int(line.split("epoch ")[1].split("/")[0])
        for line in proc.stderr.splitlines()
        if "progress.py" in line and " epoch " in line
    ]
    assert epochs == list(range(3, 31, 3))  # at least every ~10%, not only at checkpoints


def test_a_finished_run_is_refused_before_its_data_is_loaded(logdir, tmp_path):
    data = tmp_path / "d.csv"
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40)]
    data.write_text("\n".join(rows) + "\n")
    args = [f"--dataset=csv:{data}", "--epochs=2", f"--logdir={logdir}", "--run_name=r"]
    run_train(*args, check=0)
    data.unlink()  # were the data read first, this would be the error
    proc = run_train(*args, check=2)
    assert "already holds a finished run" in proc.stderr and "does not exist" not in proc.stderr
