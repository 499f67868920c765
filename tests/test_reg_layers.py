"""GaussianNoise, GaussianDropout and LayerNormalization in the hidden blocks: where they sit,
and that the model computes exactly what Keras's own layers compute."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.parity import build_run, make_config

SEED = 7


def _run(**flag_values):
    cfg = make_config(hidden="16,8", log_every="0", seed=str(SEED), **flag_values)
    return build_run(cfg)


def _forward(model, x, block_extra):
    """The MLP by hand: dense -> activation -> block_extra[i](a) -> ... -> output logits."""
    h = x
    for i, block in enumerate(model.blocks):
        h = block.activation(block.core(h))
        h = block_extra.get(i, lambda a: a)(h)
    return model.out(h)


@pytest.mark.parametrize(
    "reg, flag, value, keras_layer, offset",
    [
        ("gaussian_noise", "noise_stddev", 0.3, keras.layers.GaussianNoise, 2000),
        ("gaussian_dropout", "gaussian_dropout_rate", 0.4, keras.layers.GaussianDropout, 3000),
    ],
)
def test_noise_layers_match_keras_in_training_and_are_identity_in_inference(
    reg, flag, value, keras_layer, offset
):
    run = _run(reg=reg, **{flag: str(value)})
    model, x = run.model, run.dataset.train.x[:32]
    layer = getattr(model.blocks[0], reg)  # default place: after the first hidden layer
    assert isinstance(layer, keras_layer) and not hasattr(model.blocks[1], reg)
    # A fresh Keras layer with the seed we document draws the same first noise.
    reference = keras_layer(value, seed=SEED + offset)
    want = _forward(model, x, {0: lambda a: reference(a, training=True)})
    got = model(x, training=True)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    clean = _forward(model, x, {})
    assert np.max(np.abs(got - clean)) > 1e-2  # the noise is there in training
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    np.testing.assert_allclose(model(x, training=False), clean, rtol=1e-6, atol=1e-7)
    # Its seed state is a checkpointed variable (an identical continuation after a resume).
    states = run.trainer.checkpoint_items()["seed_states"]
    assert any(v is layer.seed_generator.state for v in states)


def test_noise_layers_go_on_the_chosen_layers_and_zero_inserts_nothing():
    run = _run(reg="gaussian_noise,gaussian_dropout", all_layers="true")
    assert [len(b.noise) for b in run.model.blocks] == [2, 2]
    run = _run(reg="gaussian_noise", noise_stddev="0")
    assert [len(b.noise) for b in run.model.blocks] == [0, 0]
    assert run.trainer.checkpoint_items()["seed_states"] == []


def test_gaussian_noise_snr_statistic():
    run = _run(reg="gaussian_noise", noise_stddev="0.25", layers="0,1")
    model, x = run.model, run.dataset.val.x
    _, acts = model(x, training=False, return_activations=True)
    ((prefix, stats, names),) = run.active[0].layer_stats(model, acts)
    assert prefix == "gaussian_noise" and names == ["dense0", "dense1"]
    want = [np.std(acts[n].numpy()) / 0.25 for n in names]
    np.testing.assert_allclose(stats["snr"], want, rtol=1e-5)


def test_layernorm_sits_where_batchnorm_would_and_matches_keras():
    run = _run(reg="layernorm")
    model, x = run.model, run.dataset.train.x[:32]
    ln = model.blocks[1].ln  # default: the tutorial's BatchNorm place, the second layer
    assert isinstance(ln, keras.layers.LayerNormalization) and model.blocks[0].normalize == []
    rng = np.random.default_rng(0)  # non-trivial gamma/beta, so that they matter
    ln.gamma.assign(rng.uniform(0.5, 2.0, ln.gamma.shape).astype(np.float32))
    ln.beta.assign(rng.normal(size=ln.beta.shape).astype(np.float32))
    reference = keras.layers.LayerNormalization()
    reference.build((None, 8))
    reference.set_weights([ln.gamma.numpy(), ln.beta.numpy()])
    want = _forward(model, x, {1: reference})
    for training in (True, False):  # no batch statistics: the same in both modes
        np.testing.assert_allclose(model(x, training=training), want, rtol=1e-5, atol=1e-6)
    _, acts = model(x, training=False, return_activations=True)
    ((prefix, stats, names),) = run.active[0].layer_stats(model, acts)
    assert prefix == "layernorm" and names == ["dense1"]
    a = acts["dense1"].numpy()
    np.testing.assert_allclose(stats["input_std"], [np.std(a, axis=-1).mean()], rtol=1e-5)
    g = ln.gamma.numpy()
    np.testing.assert_allclose(stats["gamma_rms"], [np.sqrt(np.mean(g**2))], rtol=1e-6)


def test_layernorm_on_conv_blocks_normalizes_channels():
    import data
    import models

    cfg = make_config(
        dataset="digits",
        model="cnn",
        conv_filters="4,4",
        cnn_dense="8",
        reg="layernorm",
        all_layers="true",
        log_every="0",
    )
    dataset = data.for_config(cfg)
    model = models.build(cfg, dataset)
    assert all(isinstance(b.ln, keras.layers.LayerNormalization) for b in model.blocks)
    x = tf.constant(dataset.train.x[:4])
    y = model.blocks[0].ln(model.blocks[0].activation(model.blocks[0].core(x))).numpy()
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-4)  # per pixel, over channels
