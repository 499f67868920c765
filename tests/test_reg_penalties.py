"""Prox-L1, group lasso, max-norm, orthogonal, activity and elastic net against references.

Keras is the oracle where it has the same thing (MaxNorm, OrthogonalRegularizer,
ActivityRegularization, L1L2); closed forms on hand-made weights otherwise (the proximal maps).
"""

import re
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import data
import models
import regularizers
from errors import UserError
from regularizers import group_lasso, max_norm, orthogonal, prox_l1
from regularizers.penalties import l1, l2
from tests import parity
from tests.conftest import run_train
from tests.parity import make_config
from training import optim

RNG = np.random.default_rng(0)
IRIS = data.load("iris")


def build(**flag_values):
    """(model, active regularizers) of these flags, on IRIS (or the flags' dataset)."""
    if flag_values.get("model", "mlp") == "mlp":
        flag_values = {"hidden": "6,5,4", **flag_values}
    cfg = make_config(**flag_values)
    dataset = IRIS if cfg.dataset == "iris" else data.for_config(cfg)
    active = regularizers.resolve(cfg, models.num_hidden(cfg))
    return models.build(cfg, dataset, active=active), active


def set_kernel(layer, values):
    layer.kernel.assign(np.asarray(values, np.float32))


# ---- prox_l1 --------------------------------------------------------------------------------
def test_soft_threshold_closed_form():
    w = tf.constant([[0.5, -0.02, 0.01], [-0.3, 0.0, 0.015]])
    got = prox_l1.soft_threshold(w, 0.015).numpy()
    want = np.array([[0.485, -0.005, 0.0], [-0.285, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(got, want, atol=1e-7)
    assert np.count_nonzero(got) == 3  # exact zeros, not tiny values


def test_prox_l1_after_step_thresholds_placed_kernels_by_lr_times_lambda():
    model, (reg,) = build(reg="prox_l1", layers="0,2", prox_l1="0.5")
    # Small weights, so that some fall under the threshold whatever the initializer drew.
    set_kernel(model.blocks[0].core, RNG.normal(scale=0.1, size=(4, 6)))
    kernels = {i: model.blocks[i].core.kernel for i in range(3)}
    before = {i: k.numpy() for i, k in kernels.items()}
    k0 = before[0]
    reg.after_step(model, tf.constant(0.1))  # threshold lr·λ = 0.05
    want = np.sign(k0) * np.maximum(np.abs(k0) - 0.05, 0)
    np.testing.assert_allclose(kernels[0].numpy(), want, atol=1e-7)
    assert np.any(kernels[0].numpy() == 0) and np.any(k0[kernels[0].numpy() == 0] != 0)
    np.testing.assert_array_equal(kernels[1].numpy(), before[1])  # dense1 is not placed
    assert not np.array_equal(kernels[2].numpy(), before[2])
    # Its reported term is λ·Σ|w| of the placed kernels (not a loss term).
    assert not reg.has_penalty

    (value,) = reg.epoch_values(types.SimpleNamespace(model=model))
    want_l1 = 0.5 * (np.abs(kernels[0].numpy()).sum() + np.abs(kernels[2].numpy()).sum())
    assert float(value) == pytest.approx(want_l1, rel=1e-6)


# ---- group lasso ----------------------------------------------------------------------------
def group_prox_reference(groups, threshold):
    """Block soft-thresholding of each group (a numpy array), written out per group."""
    out = []
    for g in groups:
        norm = np.sqrt(np.sum(g.astype(np.float64) ** 2))
        scale = max(1 - threshold * np.sqrt(g.size) / norm, 0) if norm > 0 else 0
        out.append(g * scale)
    return out


def test_group_lasso_mlp_groups_are_outgoing_rows():
    model, (reg,) = build(reg="group_lasso", layers="0,2", group_lasso="0.5")
    next0, out = model.blocks[1].core, model.out
    rows0 = RNG.normal(size=(6, 5)).astype(np.float32)
    rows0[1] *= 0.01  # small: thresholded to zero
    rows0[4] = 0.0  # zero: stays zero
    set_kernel(next0, rows0)
    rows2 = RNG.normal(size=(4, 3)).astype(np.float32)
    set_kernel(out, rows2)
    untouched = [model.blocks[0].core.kernel.numpy(), model.blocks[2].core.kernel.numpy()]
    k_next1 = model.blocks[2].core.kernel.numpy()  # reads layer 1, which is not placed

    # The penalty: λ·Σ_g √|g|·‖w_g‖ (rows of 5 and of 3 weights).
    want_pen = 0.5 * (
        np.sqrt(5) * np.linalg.norm(rows0, axis=1).sum()
        + np.sqrt(3) * np.linalg.norm(rows2, axis=1).sum()
    )
    got_pen = group_lasso.penalty(reg._groups(model), 0.5)
    assert float(got_pen) == pytest.approx(want_pen, rel=1e-6)
    assert not reg.has_penalty  # the prox replaces its gradient: not a loss term

    reg.after_step(model, tf.constant(0.1))  # threshold lr·λ = 0.05
    want0 = np.stack(group_prox_reference(list(rows0), 0.05))
    want2 = np.stack(group_prox_reference(list(rows2), 0.05))
    np.testing.assert_allclose(next0.kernel.numpy(), want0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out.kernel.numpy(), want2, rtol=1e-6, atol=1e-7)
    assert not next0.kernel.numpy()[1].any() and not next0.kernel.numpy()[4].any()
    assert next0.kernel.numpy()[0].all()
    np.testing.assert_array_equal(model.blocks[0].core.kernel.numpy(), untouched[0])
    np.testing.assert_array_equal(model.blocks[2].core.kernel.numpy(), k_next1)

    (stats,) = reg.layer_stats(model, None)
    prefix, values, names = stats
    assert (prefix, names) == ("group_lasso", ["dense0", "dense2"])
    np.testing.assert_array_equal(values["live_units"].numpy(), [4, 4])
    np.testing.assert_allclose(values["live_fraction"].numpy(), [4 / 6, 1.0])


def test_group_lasso_cnn_groups_a_channel_across_positions():
    """conv0's channel c is read by conv1's kernel[:, :, c, :]; conv1's channel c (pooled to
    2x2, flattened channels-last) by the dense kernel's rows c, c+C, c+2C, c+3C."""
    model, (reg,) = build(
        dataset="digits",
        model="cnn",
        conv_filters="3,4",
        cnn_dense="5",
        reg="group_lasso",
        layers="0,1",
        group_lasso="0.3",
    )
    conv1, dense = model.blocks[1].core, model.blocks[2].core
    assert tuple(conv1.kernel.shape) == (3, 3, 3, 4) and tuple(dense.kernel.shape) == (16, 5)
    kc = conv1.kernel.numpy()
    kc[:, :, 2, :] *= 0.01
    set_kernel(conv1, kc)
    kd = dense.kernel.numpy()
    kd[1::4] *= 0.01  # channel 1 of conv1 at its 4 positions
    set_kernel(dense, kd)

    conv_groups = [kc[:, :, c, :] for c in range(3)]
    dense_groups = [kd[[c, c + 4, c + 8, c + 12]] for c in range(4)]
    want_pen = 0.3 * sum(np.sqrt(g.size) * np.linalg.norm(g) for g in conv_groups + dense_groups)
    assert float(group_lasso.penalty(reg._groups(model), 0.3)) == pytest.approx(want_pen, 1e-6)

    reg.after_step(model, tf.constant(0.05))
    new_c = group_prox_reference(conv_groups, 0.015)
    new_d = group_prox_reference(dense_groups, 0.015)
    got_c, got_d = conv1.kernel.numpy(), dense.kernel.numpy()
    for c in range(3):
        np.testing.assert_allclose(got_c[:, :, c, :], new_c[c], rtol=1e-5, atol=1e-7)
    for c in range(4):
        np.testing.assert_allclose(got_d[[c, c + 4, c + 8, c + 12]], new_d[c], rtol=1e-5, atol=1e-7)
    assert not got_c[:, :, 2, :].any() and not got_d[1::4].any()
    (stats,) = reg.layer_stats(model, None)
    np.testing.assert_array_equal(stats[1]["live_units"].numpy(), [2, 3])


# ---- the proximal updates in the compiled loop, with each step's learning rate --------------
def soft_threshold_np(w, t):
    return np.sign(w) * np.maximum(np.abs(w) - t, 0)


def group_prox_rows_np(w, t):
    """Rows of a Dense kernel as groups (the reading kernel of the layer before)."""
    return np.stack(group_prox_reference(list(w), t))


@pytest.mark.parametrize(
    "name, flag_values, prox",
    [
        ("prox_l1", {"prox_l1": "0.5"}, lambda m, t: [(m.blocks[0].core, soft_threshold_np, t)]),
        (
            "group_lasso",
            {"group_lasso": "2.0"},
            lambda m, t: [(m.blocks[1].core, group_prox_rows_np, t)],
        ),
    ],
)
def test_loop_applies_the_prox_after_each_sgd_step_with_that_steps_lr(name, flag_values, prox):
    """Three full-batch SGD steps under a step schedule (the rate drops tenfold within them): the
    loop's weights equal w ← prox(w − lr·∇data loss, lr·λ) with each step's own rate, computed
    here by hand."""
    cfg = make_config(
        hidden="6,5",
        reg=name,
        learning_rate="0.1",
        lr_schedule="step",
        lr_decay_epochs="2",  # two steps at lr 0.1, the third at 0.01
        lr_decay_factor="0.1",
        batch_size=str(parity.FULL_BATCH),
        log_every="0",
        epochs="3",
        **flag_values,
    )
    run = parity.build_run(cfg)
    schedule = optim.learning_rate(cfg, 1)
    rates = [float(schedule(step)) for step in range(3)]
    assert max(rates) == pytest.approx(10 * min(rates))
    strength = float(next(iter(flag_values.values())))
    reference = models.build(cfg, run.dataset, active=run.active)
    reference.set_weights(run.model.get_weights())
    x, y = run.dataset.train.x, run.dataset.train.y
    for lr in rates:
        with tf.GradientTape() as tape:
            logits = reference(x, training=True)
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, logits))
        variables = reference.trainable_variables
        for v, g in zip(variables, tape.gradient(loss, variables), strict=True):
            v.assign(v.numpy() - lr * g.numpy())
        for layer, fn, threshold in prox(reference, lr * strength):
            layer.kernel.assign(fn(layer.kernel.numpy(), threshold).astype(np.float32))
    assert run.train() == -1
    zeros = 0
    for ours, want in zip(run.model.weights, reference.weights, strict=True):
        np.testing.assert_allclose(ours.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
        zeros += int(np.sum(want.numpy() == 0))
    assert zeros > 0  # the prox zeroed something: the test sees it


# ---- max-norm -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, axis", [((7, 5), 0), ((3, 3, 2, 4), [0, 1, 2])])
def test_max_norm_equals_keras_max_norm(shape, axis):
    w = tf.constant(RNG.normal(size=shape).astype(np.float32))
    want = keras.constraints.MaxNorm(max_value=1.5, axis=axis)(w)
    got = max_norm.max_norm(w, 1.5)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    norms = np.sqrt((got.numpy() ** 2).sum(axis=tuple(range(len(shape) - 1))))
    assert norms.max() == pytest.approx(1.5, rel=1e-6)
    before = np.sqrt((w.numpy() ** 2).sum(axis=tuple(range(len(shape) - 1))))
    np.testing.assert_allclose(norms, np.minimum(before, 1.5), rtol=1e-6)


def test_max_norm_after_step_and_its_statistics():
    model, (reg,) = build(reg="max_norm", layers="1", max_norm="0.5")
    k = model.blocks[1].core.kernel
    set_kernel(model.blocks[1].core, RNG.normal(size=(6, 5)) * [[1, 1, 0.01, 0.01, 0.01]])
    k0 = model.blocks[0].core.kernel.numpy()
    want = keras.constraints.MaxNorm(0.5)(k.numpy()).numpy()
    reg.after_step(model, tf.constant(0.1))
    np.testing.assert_array_equal(k.numpy(), want)
    np.testing.assert_array_equal(model.blocks[0].core.kernel.numpy(), k0)
    (stats,) = reg.layer_stats(model, None)
    assert stats[0] == "max_norm" and stats[2] == ["dense1"]
    assert float(stats[1]["at_bound"][0]) == pytest.approx(2 / 5)
    assert float(stats[1]["max_unit_norm"][0]) == pytest.approx(0.5, rel=1e-6)


# ---- orthogonal -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_equals_keras_orthogonal_regularizer(mode):
    model, (reg,) = build(
        reg="orthogonal", all_layers="true", orthogonal="0.3", orthogonal_mode=mode
    )
    kernels = [b.core.kernel for b in model.blocks]
    keras_reg = keras.regularizers.OrthogonalRegularizer(factor=0.3, mode=mode)
    want = sum(float(keras_reg(k)) for k in kernels)
    assert float(reg.penalty(model, None)) == pytest.approx(want, rel=1e-6)
    (stats,) = reg.layer_stats(model, None)
    per_layer = [float(keras.regularizers.OrthogonalRegularizer(1.0, mode)(k)) for k in kernels]
    np.testing.assert_allclose(stats[1]["mean_abs_cosine"].numpy(), per_layer, rtol=1e-6)


def test_orthogonal_closed_form_and_conv_kernels():
    # Rows (1,0), (1,1), (0,1): |cos| 1/√2, 0, 1/√2 over 3 pairs.
    w = tf.constant([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert float(orthogonal.orthogonal(w, 0.5, "rows")) == pytest.approx(0.5 * np.sqrt(2) / 3)
    # Columns (1,1,0) and (0,1,1): one pair, cos 1/2.
    assert float(orthogonal.orthogonal(w, 0.5, "columns")) == pytest.approx(0.25)
    # One column: no pairs, no penalty (Keras would divide by zero).
    assert float(orthogonal.orthogonal(tf.ones([3, 1]), 0.5, "columns")) == 0.0
    conv = tf.constant(RNG.normal(size=(3, 3, 2, 4)).astype(np.float32))
    flat = tf.reshape(conv, [18, 4])
    for mode in ("rows", "columns"):
        want = float(keras.regularizers.OrthogonalRegularizer(0.1, mode)(flat))
        assert float(orthogonal.orthogonal(conv, 0.1, mode)) == pytest.approx(want, rel=1e-6)


# ---- activity -------------------------------------------------------------------------------
@pytest.mark.parametrize("l1_factor, l2_factor", [(0.01, 0.0), (0.0, 0.02), (0.03, 0.05)])
def test_activity_equals_keras_activity_regularization(l1_factor, l2_factor):
    model, (reg,) = build(
        reg="activity",
        layers="0,2",
        activity_l1=str(l1_factor),
        activity_l2=str(l2_factor),
    )
    x = IRIS.train.x[:37]
    _, acts = model(x, training=True, return_activations=True)
    want = 0.0
    for name in ("dense0", "dense2"):
        layer = keras.layers.ActivityRegularization(l1=l1_factor, l2=l2_factor)
        layer(acts[name])
        (loss,) = layer.losses
        want += float(loss)
        a = acts[name].numpy().astype(np.float64)  # closed form: divided by the batch size
        closed = (l1_factor * np.abs(a).sum() + l2_factor * (a**2).sum()) / 37
        assert float(loss) == pytest.approx(closed, rel=1e-5)
    assert float(reg.penalty(model, acts)) == pytest.approx(want, rel=1e-6)
    (stats,) = reg.layer_stats(model, acts)
    np.testing.assert_allclose(
        stats[1]["mean_abs"].numpy(),
        [np.abs(acts[n]).mean() for n in ("dense0", "dense2")],
        rtol=1e-6,
    )


def test_activity_penalty_is_an_input_of_the_loss_gradient():
    model, (reg,) = build(reg="activity", layers="1", activity_l1="0", activity_l2="1.0")
    x = IRIS.train.x[:10]
    with tf.GradientTape() as tape:
        _, acts = model(x, training=True, return_activations=True)
        pen = reg.penalty(model, acts)
    grads = tape.gradient(pen, [b.core.kernel for b in model.blocks])
    assert grads[2] is None  # layer 2 comes after the penalized output
    assert np.abs(grads[0].numpy()).sum() > 0 and np.abs(grads[1].numpy()).sum() > 0


# ---- elastic net: --reg=l1,l2 on the same layers is Keras's L1L2 ---------------------------
def test_elastic_net_penalty_equals_keras_l1l2():
    model, active = build(reg="l1,l2", all_layers="true", l1="0.003", l2="0.02")
    assert [(r.name, r.layers) for r in active] == [("l1", (0, 1, 2)), ("l2", (0, 1, 2))]
    ours = sum(float(r.penalty(model, None)) for r in active)
    keras_reg = keras.regularizers.L1L2(l1=0.003, l2=0.02)
    kernels = [b.core.kernel for b in model.blocks]
    want = sum(float(keras_reg(k)) for k in kernels)
    assert ours == pytest.approx(want, rel=1e-6)
    assert float(l1(kernels, 0.003) + l2(kernels, 0.02)) == pytest.approx(want, rel=1e-6)


# ---- placement and hooks --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["prox_l1", "group_lasso", "max_norm", "orthogonal", "activity"])
def test_new_regularizers_default_to_the_first_layer_and_follow_all_layers(name):
    _, (reg,) = build(reg=name)
    assert reg.layers == (0,)
    _, (reg,) = build(reg=name, all_layers="true")
    assert reg.layers == (0, 1, 2)


# ---- bad flag values: one line, exit 2, no run directory -------------------------------------
@pytest.mark.parametrize(
    "spec, message",
    [
        ("prox_l1,prox_l1=-0.1", "--prox_l1 must be >= 0"),
        ("group_lasso,group_lasso=inf", "--group_lasso must be >= 0"),
        ("max_norm,max_norm=0", "--max_norm must be a number > 0"),
        ("max_norm,max_norm=nan", "--max_norm must be a number > 0"),
        ("orthogonal,orthogonal=-1", "--orthogonal must be >= 0"),
        ("orthogonal,orthogonal_mode=diagonal", "'diagonal' is not one of rows, columns"),
        ("activity,activity_l1=-inf", "--activity_l1 must be >= 0"),
        ("activity,activity_l2=nan", "--activity_l2 must be >= 0"),
    ],
)
def test_bad_values_in_specs(spec, message):
    with pytest.raises(UserError, match=re.escape(message)):
        regularizers.parse_spec(spec)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--reg=prox_l1", "--prox_l1=-0.1"], "--prox_l1 must be >= 0"),
        (["--reg=group_lasso", "--group_lasso=nan"], "--group_lasso must be >= 0"),
        (["--reg=max_norm", "--max_norm=inf"], "--max_norm must be a number > 0"),
        (["--reg=orthogonal", "--orthogonal_mode=diagonal"], "value should be one of"),
        (["--reg=activity", "--activity_l1=-1"], "--activity_l1 must be >= 0"),
        (["--reg=l1", "--max_norm=3"], "--max_norm does nothing here: --reg has no max_norm"),
    ],
)
def test_bad_values_of_the_new_flags(args, message, logdir):
    proc = run_train(*args, "--epochs=1", f"--logdir={logdir}", check=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: ") and message in lines[0]
    assert not logdir.exists() or not any(logdir.iterdir())
