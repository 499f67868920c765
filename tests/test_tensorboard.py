"""What a run shows in a real TensorBoard server, and the statistics behind it."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from inspection import stats
from tests.conftest import ROOT, read_metrics, read_scalars, run_train


def test_weight_stats_on_hand_made_weights():
    w = tf.constant([[0.0, 0.0005, -0.5], [2.0, 0.0, -0.0002]])
    s = {k: float(v) for k, v in stats.weight_stats(w, 1e-3).items()}
    assert s["l1_norm"] == pytest.approx(2.5007)
    assert s["l2_norm"] == pytest.approx(np.sqrt(0.0005**2 + 0.25 + 4 + 0.0002**2))
    assert s["max_abs"] == pytest.approx(2.0)
    assert s["sparsity"] == pytest.approx(4 / 6)  # 0, 0.0005, 0, -0.0002
    assert s["zero_fraction"] == pytest.approx(2 / 6)


def test_activation_stats_saturation_and_dead_units():
    # 4 examples x 4 units: unit 1 and unit 3 output zero for every example (dead).
    a = tf.constant(
        [
            [0.995, 0.0, 0.2, 0.0],
            [-0.999, 0.0, 0.1, 0.0],
            [0.5, 0.0, 0.0, 0.0],
            [0.1, 0.0, 0.3, 0.0],
        ]
    )
    s = {k: float(v) for k, v in stats.activation_stats(a).items()}
    assert s["saturated"] == pytest.approx(2 / 16)
    assert s["dead"] == pytest.approx(0.5)
    assert s["mean"] == pytest.approx(float(np.mean(a)))
    assert s["std"] == pytest.approx(float(np.std(a)), rel=1e-5)
    conv = tf.concat([tf.ones([2, 3, 3, 1]), tf.zeros([2, 3, 3, 1])], axis=-1)
    assert float(stats.activation_stats(conv)["dead"]) == pytest.approx(0.5)  # per channel


def test_many_layers_at_once_match_each_layer_alone():
    # What the compiled loop computes (all layers stacked) against NumPy, layer by layer: a dense
    # and a conv kernel, a dense activation and a conv map (its units are channels).
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(5, 3)).astype(np.float32) * (rng.random((5, 3)) > 0.4)
    conv = rng.normal(scale=1e-3, size=(3, 3, 2, 4)).astype(np.float32)
    w = stats.weight_stats_many([tf.constant(dense), tf.constant(conv)], 1e-3)
    for i, k in enumerate((dense, conv)):
        a = np.abs(k)
        assert float(w["l1_norm"][i]) == pytest.approx(a.sum(), rel=1e-5)
        assert float(w["l2_norm"][i]) == pytest.approx(np.sqrt((k**2).sum()), rel=1e-5)
        assert float(w["max_abs"][i]) == pytest.approx(a.max())
        assert float(w["sparsity"][i]) == pytest.approx((a < 1e-3).mean())
        assert float(w["zero_fraction"][i]) == pytest.approx((k == 0).mean())
    hidden = np.tanh(rng.normal(scale=3, size=(6, 4))).astype(np.float32)
    hidden[:, 2] = 0.0  # a dead unit
    fmap = np.maximum(rng.normal(size=(2, 3, 3, 3)), 0).astype(np.float32)
    fmap[..., 1] = 0.0  # a dead channel
    act = stats.activation_stats_many([tf.constant(hidden), tf.constant(fmap)])
    for i, a in enumerate((hidden, fmap)):
        units = a.reshape(-1, a.shape[-1])
        assert float(act["mean"][i]) == pytest.approx(a.mean(), rel=1e-5)
        assert float(act["std"][i]) == pytest.approx(a.std(), rel=1e-5)
        assert float(act["saturated"][i]) == pytest.approx((np.abs(a) > 0.99).mean())
        assert float(act["dead"][i]) == pytest.approx((~units.any(axis=0)).mean())
    assert [float(x) for x in act["dead"]] == [0.25, pytest.approx(1 / 3)]
    np.testing.assert_allclose(
        stats.l2_norms([tf.constant(dense), tf.constant(conv)]),
        [np.sqrt((dense**2).sum()), np.sqrt((conv**2).sum())],
        rtol=1e-5,
    )


def test_histograms_of_several_tensors_at_once():
    a = tf.constant([[0.0, 1.0], [2.0, 3.0]])
    b = tf.constant([5.0, 5.0, 5.0])  # constant: one thin bucket
    stats_, edges, counts = (x.numpy() for x in stats.histograms_many([a, b], bins=3))
    np.testing.assert_allclose(stats_[0], [0, 3, 4, 6, 14])  # min max num sum sum_squares
    np.testing.assert_allclose(edges[0], [1, 2, 3])
    np.testing.assert_array_equal(counts[0], [1, 1, 2])  # the max falls in the last bucket
    assert stats_[1][:3].tolist() == [5, pytest.approx(5 + 1e-6), 3]
    assert counts[1].sum() == 3


def test_batchnorm_gap_against_moving_statistics():
    bn = tf.keras.layers.BatchNormalization()
    bn.build((None, 2))  # moving mean 0, moving variance 1
    a = tf.constant([[1.0, 3.0], [3.0, 3.0]])  # batch mean (2, 3), variance (1, 0)
    gap = {k: float(v) for k, v in stats.batchnorm_gap(a, bn).items()}
    assert gap["mean_gap"] == pytest.approx(2.5)
    assert gap["var_gap"] == pytest.approx(0.5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(base, path, **params):
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _post(base, path, body):
    req = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def tensorboard(logdir):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        yield base
    finally:
        proc.terminate()  # stopped by its own PID
        proc.wait(timeout=20)


def _wait_for(fn, timeout=60):
    deadline = time.time() + timeout
    while True:
        try:
            result = fn()
            if result:
                return result
        except OSError:
            pass
        if time.time() > deadline:
            raise AssertionError("TensorBoard did not show the run in time")
        time.sleep(0.5)


def _final_session_group(base):
    """The HParams session group of the one run, once it lists the final metrics."""
    body = {
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "startIndex": 0,
        "sliceSize": 100,
    }
    groups = _post(base, "/data/plugin/hparams/session_groups", body)
    assert groups["totalSize"] <= 1
    if groups["totalSize"] == 1:
        group = groups["sessionGroups"][0]
        tags = {v["name"]["tag"] for v in group.get("metricValues", [])}
        return group if "final/test_accuracy" in tags else None
    return None


def test_real_tensorboard_shows_the_run(logdir, tensorboard):
    run_train(
        "--reg=l1,batchnorm,dropout",
        "--all_layers",
        "--epochs=12",
        "--batch_size=32",
        "--hist_every=5",
        "--stats_every=4",
        f"--logdir={logdir}",
        "--run_name=tb",
        check=0,
    )
    m = read_metrics(logdir / "tb")
    base = tensorboard
    # The server reloads every second, maybe while the run was writing: wait until it has read
    # the run's last events (its final metrics, written after everything else).
    group = _wait_for(lambda: _final_session_group(base))
    runs = _get(base, "/data/runs")
    assert {"tb", "tb/train", "tb/val"} <= set(runs)

    tags = _wait_for(lambda: _get(base, "/data/plugin/scalars/tags"))
    split_tags = {
        "loss/data",
        "loss/penalty",
        "loss/penalty/l1",  # one tag per active penalty, named after its regularizer
        "loss/total",
        "metrics/accuracy",
        "metrics/mse",
    }
    assert split_tags <= set(tags["tb/train"]) and split_tags <= set(tags["tb/val"])
    assert not any(t.startswith("loss/penalty/l2") for t in tags["tb/train"])  # l2 is off
    root = set(tags["tb"])
    for layer in ["dense0", "dense1", "dense2", "dense3", "dense4", "output"]:
        for key in [
            "l1_norm",
            "l2_norm",
            "max_abs",
            "sparsity",
            "zero_fraction",
            "grad_l2_norm",
            "update_ratio",
        ]:
            assert f"weights/{layer}/{key}" in root
    for layer in ["dense0", "dense4"]:
        for key in ["mean", "std", "saturated", "dead"]:
            assert f"activations/{layer}/{key}" in root
        assert f"batchnorm/{layer}/mean_gap" in root
    assert {"optim/learning_rate", "metrics/generalization_gap"} <= root

    # Values: the val accuracy curve equals the history; the final L2 norm of a kernel equals
    # the norm of that kernel in the saved checkpoint.
    val_acc = _get(base, "/data/plugin/scalars/scalars", run="tb/val", tag="metrics/accuracy")
    assert [s[1] for s in val_acc] == list(range(1, 13))
    np.testing.assert_allclose([s[2] for s in val_acc], m["history"]["val_accuracy"], rtol=1e-6)
    reader = tf.train.load_checkpoint(str(logdir / "tb" / "checkpoints"))
    # The only [256, 128] tensor is dense2's kernel (plain SGD keeps no slot variables).
    kernel_keys = [
        k for k, shape in reader.get_variable_to_shape_map().items() if shape == [256, 128]
    ]
    assert len(kernel_keys) == 1
    want = float(np.linalg.norm(reader.get_tensor(kernel_keys[0])))
    norms = _get(base, "/data/plugin/scalars/scalars", run="tb", tag="weights/dense2/l2_norm")
    assert [s[1] for s in norms] == [4, 8, 12]  # --stats_every
    assert norms[-1][2] == pytest.approx(want, rel=1e-5)

    hist_tags = _get(base, "/data/plugin/histograms/tags")["tb"]
    assert {"weights/dense0/kernel", "weights/output/bias", "activations/dense3"} <= set(hist_tags)
    hist = _get(base, "/data/plugin/histograms/histograms", run="tb", tag="weights/dense0/kernel")
    assert [h[1] for h in hist] == [5, 10, 12]
    buckets = hist[-1][2]
    assert sum(b[2] for b in buckets) == 4 * 512  # every weight counted once

    hparams = group["hparams"]
    assert [s["status"] for s in group["sessions"]] == ["STATUS_SUCCESS"]
    assert hparams["reg"] == "batchnorm,dropout,l1" and hparams["all_layers"] is True
    assert hparams["l1"] == pytest.approx(0.01) and hparams["batch_size"] == 32
    assert hparams["dropout_rate"] == 0.5  # a one-value list flag: a number column
    metric_values = {v["name"]["tag"]: v["value"] for v in group["metricValues"]}
    assert metric_values["final/test_accuracy"] == pytest.approx(m["final"]["test_accuracy"])
    assert "config" in _get(base, "/data/plugin/text/tags")["tb"]

    # A second run in the same logdir: TensorBoard shows one run's experiment, and every run
    # lists the same columns, so the other's (dropout_rate, all_layers) are not lost.
    run_train("--reg=l2", "--epochs=2", f"--logdir={logdir}", "--run_name=tb2", check=0)

    def both_trials():
        body = {"allowedStatuses": ["STATUS_SUCCESS"], "startIndex": 0, "sliceSize": 10}
        groups = _post(base, "/data/plugin/hparams/session_groups", body)
        return groups if groups["totalSize"] == 2 else None

    _wait_for(both_trials)
    infos = _post(base, "/data/plugin/hparams/experiment", {})["hparamInfos"]
    assert {"dropout_rate", "all_layers", "l1", "l2", "reg", "seed"} <= {i["name"] for i in infos}


def test_step_statistics_obey_sgd_and_the_cadence(logdir):
    # Full-batch SGD (120 rows, batch 128): one step per epoch, w <- w - lr * g, so
    # ||dw|| = lr * ||g||: update_ratio(e) * l2_norm(e) == lr * grad_l2_norm(e) (the ratio is
    # relative to the weights the step produced, the epoch's).
    common = ["--reg=l2", "--all_layers", "--epochs=10", "--batch_size=128", f"--logdir={logdir}"]
    run_train(*common, "--stats_every=1", "--run_name=every", check=0)
    run_train(*common, "--stats_every=3", "--run_name=third", check=0)
    every, third = read_scalars(logdir / "every"), read_scalars(logdir / "third")
    for layer in ["dense0", "dense2", "output"]:
        norm = dict(every[f"weights/{layer}/l2_norm"])
        grad = dict(every[f"weights/{layer}/grad_l2_norm"])
        ratio = dict(every[f"weights/{layer}/update_ratio"])
        assert sorted(norm) == list(range(1, 11))
        for e in range(1, 11):
            assert ratio[e] * norm[e] == pytest.approx(0.01 * grad[e], rel=1e-4)
        # Every 3rd epoch and the last; the same numbers as when tracking every epoch.
        for key in ["l2_norm", "grad_l2_norm", "update_ratio", "sparsity"]:
            sparse = third[f"weights/{layer}/{key}"]
            assert [s for s, _ in sparse] == [3, 6, 9, 10]
            full = dict(every[f"weights/{layer}/{key}"])
            assert [v for _, v in sparse] == pytest.approx([full[s] for s, _ in sparse], rel=1e-6)
    # Losses and metrics stay every epoch.
    assert [s for s, _ in third["metrics/generalization_gap"]] == list(range(1, 11))
    # The distance from initialization on the histograms' cadence (50: the last epoch only),
    # ending at metrics.json's values; the spectral norms only there (an eigendecomposition).
    measured = read_metrics(logdir / "every")["measures"]
    for layer in ["dense0", "dense2", "output"]:
        dist = third[f"measures/{layer}/dist_init"]
        assert dist == [(10, pytest.approx(measured["dist_init_layers"][layer], rel=1e-5))]
    assert third["measures/dist_init"][-1][1] == pytest.approx(measured["dist_init"], rel=1e-5)
    assert not [tag for tag in third if "spectral" in tag]


def test_summaries_off_write_no_event_files(logdir):
    run_train("--epochs=3", "--log_every=0", f"--logdir={logdir}", "--run_name=quiet", check=0)
    assert not list((logdir / "quiet").rglob("events.out.tfevents*"))


def test_a_killed_and_resumed_run_shows_each_epoch_once(logdir, tensorboard):
    # SIGKILL leaves events of epochs past the last checkpoint on disk; the resumed run writes
    # those epochs again. TensorBoard's data server takes a step going back as a restart and
    # keeps the newer points, so the curves match the run's history, each epoch once.
    args = ["--epochs=120", "--batch_size=8", "--checkpoint_every=40", "--hist_every=60"]
    args += [f"--logdir={logdir}", "--run_name=k"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def val_steps():  # the files may end in a record being written, or cut by the kill
        scalars = read_scalars(logdir / "k" / "val", cut_records_end_a_file=True)
        return [s for s, _ in scalars.get("metrics/accuracy", [])]

    deadline = time.time() + 120
    while max(val_steps(), default=0) < 45:  # five epochs past the checkpoint at 40
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "the run wrote no events past epoch 45"
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    written = val_steps()
    run_train(*args, check=0)
    m = read_metrics(logdir / "k")
    assert m["resumed_from_epoch"] < max(written)  # so some epochs are on disk twice
    assert len(val_steps()) > 120

    def shown():
        points = _get(
            tensorboard, "/data/plugin/scalars/scalars", run="k/val", tag="metrics/accuracy"
        )
        return points if points and points[-1][1] == 120 else None

    points = _wait_for(shown)
    assert [p[1] for p in points] == list(range(1, 121))
    np.testing.assert_allclose([p[2] for p in points], m["history"]["val_accuracy"], rtol=1e-6)
    # The resumed process measured its distance from the run's own initialization.
    dist = read_scalars(logdir / "k")["measures/dist_init"]
    assert [s for s, _ in dist] == [60, 120]
    assert dist[-1][1] == pytest.approx(m["measures"]["dist_init"], rel=1e-5)


# ---- a sweep's TensorBoard view --------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_view(tmp_path_factory):
    """model1 (no regularizer) and model6 (L2 on all layers) x 2 seeds, 4 epochs, summaries on."""
    out = tmp_path_factory.mktemp("tb_sweep") / "sw"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "sweep.py"),
            "--configs=configs/model1.cfg,configs/model6.cfg",
            "--seeds=2",
            f"--out={out}",
            "--workers=2",
            "--train_flag=--epochs=4",
            "--train_flag=--hist_every=2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _screenshot(base, page, path, profile):
    """A headless Chromium screenshot of TensorBoard's #page (the waiting budget lets its
    scripts fetch and draw the data)."""
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            "--window-size=1400,900",
            "--virtual-time-budget=15000",
            f"--screenshot={path}",
            f"{base}/#{page}",
        ],
        capture_output=True,
        timeout=180,
        check=True,
    )
    return path


def _colored_fraction(png):
    """The share of colored pixels (selected runs' checkboxes, lines, ticked columns) below the
    header: 0.0028 on TensorBoard's empty "No scalar data was found" page, 0.0073 with the
    sweep's runs selected and drawn."""
    import matplotlib.image

    rgb = matplotlib.image.imread(png)[70:, :, :3]
    return float((rgb.std(axis=2) > 0.15).mean())


def test_a_sweep_opens_readable_in_a_real_tensorboard(sweep_view, tmp_path):
    out = sweep_view
    runs = json.loads((out / "sweep.json").read_text())["runs"]
    view = out / "tensorboard"
    with _serve(view) as base:
        groups = _wait_for(lambda: _all_final_groups(base, len(runs)))
        # Runs are named by variant and seed, and every one is there with its curves.
        names = set(_get(base, "/data/runs"))
        for r in runs:
            path = f"{r['variant']}/seed{r['seed']}"
            assert {path, f"{path}/train", f"{path}/val"} <= names
        assert not any(r["name"] in n for r in runs for n in names)  # no hashed directory name
        val = _get(
            base, "/data/plugin/scalars/scalars", run="model6/seed1/val", tag="metrics/accuracy"
        )
        assert [s[1] for s in val] == [1, 2, 3, 4]
        # HParams: the flags that vary and the seed come first (TensorBoard shows five columns).
        infos = _post(base, "/data/plugin/hparams/experiment", {})["hparamInfos"]
        first = [i["name"] for i in infos if i.get("differs")]
        assert first == ["all_layers", "l2", "reg", "seed"]
        assert [i["name"] for i in infos[: len(first)]] == first
        assert not any(i["name"].startswith("activity") for i in infos)
        # Trials are the runs, named by them; a run logs only the flags that do something in it.
        by_name = {g["name"]: g for g in groups}
        assert set(by_name) == {r["name"] for r in runs}
        for r in runs:
            group = by_name[r["name"]]
            assert [s["name"] for s in group["sessions"]] == [f"{r['variant']}/seed{r['seed']}"]
            hparams = group["hparams"]
            assert hparams["seed"] == r["seed"] and "activity_l1" not in hparams
            if r["variant"] == "model1":
                assert hparams["reg"] == "none" and "l2" not in hparams
                assert "all_layers" not in hparams
            else:
                assert hparams["reg"] == "l2" and hparams["l2"] == pytest.approx(0.01)
        if not shutil.which("chromium"):
            if os.environ.get("REQUIRE_CHROMIUM"):
                pytest.fail("REQUIRE_CHROMIUM is set but chromium is not installed")
            pytest.skip("chromium is not installed (apt-get install chromium): no screenshots")
        shots = Path(os.environ.get("TB_SHOTS") or tmp_path)
        for page in ("scalars", "hparams"):
            png = _screenshot(base, page, shots / f"tensorboard_{page}.png", tmp_path / page)
            assert _colored_fraction(png) > 0.005, f"#{page} rendered (nearly) empty: {png}"


def _all_final_groups(base, n):
    body = {
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "startIndex": 0,
        "sliceSize": 100,
    }
    groups = _post(base, "/data/plugin/hparams/session_groups", body)["sessionGroups"]
    finals = [
        g
        for g in groups
        if "final/test_accuracy" in {v["name"]["tag"] for v in g.get("metricValues", [])}
    ]
    return groups if len(finals) == n else None


@contextlib.contextmanager
def _serve(logdir):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir)]
        + ["--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()  # stopped by its own PID
        proc.wait(timeout=20)
