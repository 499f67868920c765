"""Models: the tutorial's architecture, regularizer layers where placed, `training` followed."""

import numpy as np
import pytest

import options
import regularizers
from data import load
from models import build

IRIS = load("iris")


def config(**overrides):
    from absl import flags

    fv = flags.FlagValues()
    options.define_flags(fv)
    fv(["x"] + [f"--{k}={v}" for k, v in overrides.items()])
    return options.config_from_flags(fv)


def test_mlp_matches_the_tutorial_summary():
    model = build(config(), IRIS)
    shapes = [tuple(layer.kernel.shape) for _, layer in model.kernel_layers()]
    assert shapes == [(4, 512), (512, 256), (256, 128), (128, 64), (64, 32), (32, 3)]
    assert model.count_params() == 177_219  # the tutorial's model1.summary()
    assert [b.activation_name for b in model.blocks] == ["tanh"] * 4 + ["relu"]


def test_penalized_kernels_follow_the_placement():
    cfg = config(reg="l1,l2", layers="1,3")
    model = build(cfg, IRIS)
    l1, l2 = regularizers.resolve(cfg, 5)
    assert (l1.name, l1.layers, l2.name, l2.layers) == ("l1", (1, 3), "l2", (1, 3))
    got = [k.path for k in model.hidden_kernels(l1.layers)]
    assert got == [model.blocks[1].core.kernel.path, model.blocks[3].core.kernel.path]
    # The penalty is a function of exactly those kernels.
    kernels = [model.blocks[i].core.kernel.numpy() for i in (1, 3)]
    want = 0.01 * sum(np.abs(k).sum() for k in kernels)
    assert float(l1.penalty(model, None)) == pytest.approx(want, rel=1e-6)


def test_dropout_and_batchnorm_follow_training_flag():
    model = build(config(reg="dropout,batchnorm", all_layers="true", dropout_rate="0.5"), IRIS)
    x = IRIS.train.x[:64]
    infer1, infer2 = model(x, training=False).numpy(), model(x, training=False).numpy()
    np.testing.assert_array_equal(infer1, infer2)  # inference: deterministic
    train1, train2 = model(x, training=True).numpy(), model(x, training=True).numpy()
    assert not np.allclose(train1, train2)  # training: fresh Dropout masks
    bn = model.blocks[0].bn
    before = bn.moving_mean.numpy().copy()
    model(x, training=False)
    np.testing.assert_array_equal(before, bn.moving_mean.numpy())  # inference leaves BN stats
    model(x, training=True)
    assert not np.allclose(before, bn.moving_mean.numpy())  # training updates them


def test_activations_are_exposed_per_hidden_layer():
    model = build(config(), IRIS)
    logits, acts = model(IRIS.test.x, training=False, return_activations=True)
    assert logits.shape == (30, 3)
    assert list(acts) == ["dense0", "dense1", "dense2", "dense3", "dense4"]
    assert [a.shape[-1] for a in acts.values()] == [512, 256, 128, 64, 32]
    assert np.all(np.abs(acts["dense0"]) <= 1.0)  # tanh
    assert np.all(acts["dense4"].numpy() >= 0.0)  # relu


def test_cnn_builds_on_images_and_places_regularizers():
    digits = load("digits")
    model = build(config(model="cnn", reg="batchnorm,dropout", all_layers="true"), digits)
    assert [b.core.name for b in model.blocks] == ["conv0", "conv1", "dense2"]
    assert all(b.normalize == [b.bn] and b.noise == [b.dropout] for b in model.blocks)
    logits, acts = model(digits.test.x[:5], return_activations=True)
    assert logits.shape == (5, 10)
    assert acts["conv0"].shape == (5, 8, 8, 32)


@pytest.mark.parametrize("n", [1, 3])
def test_placement_default_batchnorm_clamps_to_small_models(n):
    hidden = ",".join(["8"] * n)
    (bn,) = regularizers.resolve(config(reg="batchnorm", hidden=hidden), n)
    assert bn.layers == (min(1, n - 1),)
    model = build(config(reg="batchnorm", hidden=hidden), IRIS)
    assert [i for i, b in enumerate(model.blocks) if getattr(b, "bn", None)] == [min(1, n - 1)]


@pytest.mark.parametrize(
    "flags, dataset",
    [({}, "iris"), ({"model": "cnn"}, "digits"), ({"hidden": "7,5"}, "digits")],
)
def test_the_parameter_estimate_is_exact(flags, dataset):
    import models

    cfg = config(dataset=dataset, **flags)
    ds = load(dataset)
    assert models.parameter_estimate(cfg, ds) == build(cfg, ds).count_params()


def test_a_model_too_large_for_memory_is_refused_before_it_is_built():
    from errors import UserError

    with pytest.raises(UserError, match="the model would have 4,295,557,123 weights"):
        build(config(hidden="65536,65536"), IRIS)
