"""prune.py / models/compact.py: removing dead units leaves the predictions, shrinks the model."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import data
import models
import regularizers
from models.compact import compact, live_units, parameter_count
from tests.conftest import ROOT, read_metrics, read_scalars, run_train
from tests.parity import make_config

RNG = np.random.default_rng(1)


def build(**flag_values):
    cfg = make_config(**flag_values)
    dataset = data.for_config(cfg)
    model = models.build(cfg, dataset)
    for block in model.blocks:  # BatchNorm with statistics of its own, not the identity
        for layer in block.normalize:
            for w in layer.weights:
                w.assign(RNG.uniform(0.5, 1.5, size=w.shape).astype(np.float32))
    return model, dataset


def reading_kernel(model, i):
    blocks = model.blocks
    return (blocks[i + 1].core if i + 1 < len(blocks) else model.out).kernel


def kill(model, i, units):
    """Zeroes every weight reading `units` of hidden layer i (rows, or a channel's slices)."""
    kernel = reading_kernel(model, i)
    n = model.blocks[i].core.kernel.shape[-1]
    k = kernel.numpy().reshape(-1, n, kernel.shape[-1])
    k[:, list(units), :] = 0
    kernel.assign(k.reshape(kernel.shape))


def assert_same_predictions(model, small, dataset):
    for split in (dataset.train, dataset.test):
        want = model(split.x, training=False).numpy()
        got = small(split.x, training=False).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_mlp_without_dead_units_predicts_the_same(tmp_path):
    model, dataset = build(hidden="7,5,4", reg="batchnorm,dropout", all_layers="true")
    kill(model, 0, [1, 4])
    kill(model, 1, [0])
    kill(model, 2, [0, 1, 2])
    masks = live_units(model)
    assert [m.tolist() for m in masks] == [
        [True, False, True, True, False, True, True],
        [False, True, True, True, True],
        [False, False, False, True],
    ]
    small = compact(model, dataset.input_shape, masks)
    assert_same_predictions(model, small, dataset)
    # Dense 4->5->4->1 (+ BN 4 per unit) -> 3: closed form.
    widths, inputs = [5, 4, 1], 4
    want = 0
    for w in widths:
        want += inputs * w + w + 4 * w
        inputs = w
    want += inputs * 3 + 3
    assert parameter_count(small) == want
    assert parameter_count(model) == (4 * 7 + 7 + 28) + (7 * 5 + 5 + 20) + (5 * 4 + 4 + 16) + 15
    # The .keras file opens without this project's code, and predicts the same.
    small.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert_same_predictions(model, loaded, dataset)


def test_deaths_cascade_backwards():
    """A unit read only by dead units of the next layer is dead too."""
    model, dataset = build(hidden="4,3")
    kill(model, 1, [2])  # layer 1 unit 2: nothing reads it
    kernel = reading_kernel(model, 0)  # layer 0 unit 0: read only by layer 1 unit 2
    k = kernel.numpy()
    k[0, :2] = 0
    kernel.assign(k)
    masks = live_units(model)
    assert [m.tolist() for m in masks] == [[False, True, True, True], [True, True, False]]
    assert_same_predictions(model, compact(model, dataset.input_shape, masks), dataset)


def test_cnn_channels_and_dense_units_are_removed():
    model, dataset = build(
        dataset="digits",
        model="cnn",
        conv_filters="4,6",
        cnn_dense="5",
        reg="batchnorm,dropout",
        all_layers="true",
    )
    kill(model, 0, [0, 3])  # conv1's input channels
    kill(model, 1, [1, 2, 5])  # the flattened dense rows of 3 channels at every position
    kill(model, 2, [4])
    masks = live_units(model)
    assert [int(m.sum()) for m in masks] == [2, 3, 4]
    small = compact(model, dataset.input_shape, masks)
    assert_same_predictions(model, small, dataset)
    assert [layer.filters for layer in small.layers if isinstance(layer, keras.layers.Conv2D)] == [
        2,
        3,
    ]
    # conv 3·3·1·2+2, BN 4·2; conv 3·3·2·3+3, BN 4·3; dense (2·2·3)·4+4, BN 4·4; out 4·10+10.
    assert parameter_count(small) == 20 + 8 + 57 + 12 + 52 + 16 + 50


def test_layernorm_blocks_keep_their_units():
    if "layernorm" not in regularizers.REGISTRY:
        pytest.skip("no layernorm regularizer registered")
    model, dataset = build(hidden="5,4", reg="layernorm", layers="0")
    kill(model, 0, [1])
    kill(model, 1, [2])
    masks = live_units(model)
    assert [int(m.sum()) for m in masks] == [5, 3]  # LN normalizes over layer 0's units
    assert_same_predictions(model, compact(model, dataset.input_shape, masks), dataset)


@pytest.fixture(scope="module")
def pruned_run(tmp_path_factory):
    """A group-lasso run whose proximal updates kill units (λ = 0.05, lr 0.1: the threshold
    lr·λ·√|g| is large enough in 100 steps), then prune.py on it."""
    logdir = tmp_path_factory.mktemp("logs")
    run_train(
        "--reg=group_lasso",
        "--all_layers",
        "--group_lasso=0.05",
        "--hidden=16,8",
        "--epochs=100",
        "--learning_rate=0.1",
        f"--logdir={logdir}",
        "--run_name=gl",
        check=0,
    )
    run_dir = logdir / "gl"
    out = logdir / "pruned"
    proc = run_script("prune.py", f"--run_dir={run_dir}", f"--out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, out, proc


def run_script(script, *args):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_prune_py_writes_a_smaller_model_that_predicts_the_same(pruned_run):
    from options import RunConfig

    run_dir, out, proc = pruned_run
    report = json.loads((out / "prune.json").read_text())
    assert report["units_before"] == [16, 8]
    after = report["units_after"]
    assert all(a > 0 for a in after) and sum(after) < 24  # group lasso killed units
    assert report["parameters_after"] < report["parameters_before"] == 4 * 16 + 16 + 16 * 8 + 8 + 27
    a0, a1 = after
    assert report["parameters_after"] == 4 * a0 + a0 + a0 * a1 + a1 + a1 * 3 + 3
    before = report["parameters_before"]
    assert f"parameters: {before} -> {report['parameters_after']}" in proc.stdout
    # The group lasso's TensorBoard statistic shows the units that died (layer 0's count may
    # be higher: a unit read only by dead units of layer 1 still has a nonzero group).
    scalars = read_scalars(run_dir)
    assert scalars["group_lasso/dense1/live_units"][-1] == (100, a1)
    assert scalars["group_lasso/dense0/live_units"][-1][1] >= a0
    assert read_metrics(run_dir)["history"]["group_lasso/penalty"][-1] > 0
    # The compact model vs the run's own model, on the run's data.
    cfg = RunConfig(json.loads((run_dir / "config.json").read_text()))
    dataset = data.for_config(cfg)
    full = models.build(cfg, dataset)
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    tf.train.Checkpoint(model=full).restore(latest).expect_partial()
    assert [int(live_units(full)[i].sum()) for i in range(2)] == after
    small = keras.saving.load_model(out / "model.keras")
    assert_same_predictions(full, small, dataset)
    assert report["max_abs_logit_difference"] < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("without", ["everything", "model"])
def test_prune_py_refuses_what_is_not_a_finished_exported_run(without, pruned_run, tmp_path):
    """One line, exit 2, nothing written: no run directory, or a run without its model/."""
    import shutil

    run_dir = tmp_path / "run"
    if without == "model":
        shutil.copytree(pruned_run[0], run_dir, ignore=shutil.ignore_patterns("model"))
    proc = run_script("prune.py", f"--run_dir={run_dir}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prune.py: error: "), proc.stderr[-2000:]
    assert str(run_dir) in lines[0]
    assert not (run_dir / "pruned").exists()
