"""Generalization measures against hand computations on tiny networks."""

import itertools
import math
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from inspection import measures
from models.cnn import CNN
from models.mlp import MLP
from regularizers.base import NORMALIZE


def _mlp(hidden=(3,), inserted=None, seed=0):
    keras.utils.set_random_seed(seed)
    model = MLP(3, hidden=hidden, activation="relu", last_activation="relu", inserted=inserted)
    model(np.zeros([2, 4], np.float32))
    return model


def test_spectral_norms_against_numpy():
    model = _mlp(hidden=(5, 6))
    kernels = measures.folded_kernels(model)
    norms = measures.spectral_norms(kernels)
    for name, layer in model.kernel_layers():
        assert norms[name] == pytest.approx(np.linalg.norm(layer.kernel.numpy(), ord=2), rel=1e-6)
    m = measures.measure(model, _split(model), None, _cfg(sharpness_samples=0))
    assert m["log_prod_spectral"] == pytest.approx(sum(math.log(v) for v in norms.values()))
    assert m["prod_spectral"] == pytest.approx(math.prod(norms.values()))


def test_path_norm_of_a_two_layer_net_by_enumeration():
    model = _mlp(hidden=(3,))
    w1 = model.blocks[0].core.kernel.numpy().astype(np.float64)
    w2 = model.out.kernel.numpy().astype(np.float64)
    paths = sum(
        w1[i, j] ** 2 * w2[j, k] ** 2 for i, j, k in itertools.product(range(4), range(3), range(3))
    )
    got = measures.path_norm(model, measures.folded_kernels(model), (4,))
    assert got == pytest.approx(math.sqrt(paths), rel=1e-10)


def test_margin_and_its_10th_percentile_by_hand():
    logits = np.array([[3.0, 1.0, 0.5], [0.0, 2.0, 1.5], [1.0, 4.0, 0.0], [0.2, 0.1, 0.3]])
    labels = np.array([0, 1, 0, 2])
    m = measures.margins(logits, labels)
    np.testing.assert_allclose(m, [2.0, 0.5, -3.0, 0.1])
    assert measures.margin_percentile(m) == -3.0  # m // 10 = 0: the smallest
    values = np.arange(25, dtype=float)[::-1]  # 25 margins: the 2nd smallest (25 // 10 = 2)
    assert measures.margin_percentile(values) == 1.0


def test_spectral_complexity_by_hand():
    kernels = {"a": np.array([[3.0, 0.0], [0.0, 4.0]]), "b": np.array([[1.0], [0.0]])}
    norms = measures.spectral_norms(kernels)
    assert norms == {"a": 4.0, "b": 1.0}
    # ||W^T||_{2,1}: output units' weight norms summed: a: 3 + 4, b: 1.
    expected = 4.0 * 1.0 * ((7 / 4) ** (2 / 3) + 1.0) ** 1.5
    assert measures.spectral_complexity(kernels, norms) == pytest.approx(expected)


def test_batchnorm_scale_is_folded_into_the_next_kernel():
    bn = keras.layers.BatchNormalization()
    model = _mlp(hidden=(3,), inserted={0: [(NORMALIZE, "bn", bn)]})
    bn.gamma.assign([2.0, -1.0, 0.5])
    bn.moving_variance.assign([4.0, 1.0, 0.25])
    scale = np.array([2.0, -1.0, 0.5]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + bn.epsilon)
    folded = measures.folded_kernels(model)
    np.testing.assert_allclose(folded["output"], scale[:, None] * model.out.kernel.numpy())
    np.testing.assert_allclose(folded["dense0"], model.blocks[0].core.kernel.numpy())


def test_layernorm_gets_no_norm_based_measures():
    ln = keras.layers.LayerNormalization()
    model = _mlp(hidden=(3,), inserted={0: [(NORMALIZE, "ln", ln)]})
    assert measures.folded_kernels(model) is None
    m = measures.measure(model, _split(model), None, _cfg(sharpness_samples=0))
    assert "path_norm" not in m and "margin_p10" in m


def test_cnn_spectral_norm_of_the_reshaped_kernel_and_path_norm_finite():
    keras.utils.set_random_seed(0)
    model = CNN(3, conv_filters=(2,), dense=(4,))
    model(np.zeros([2, 4, 4, 1], np.float32))
    k = model.blocks[0].core.kernel.numpy()
    norms = measures.spectral_norms(measures.folded_kernels(model))
    assert norms["conv0"] == pytest.approx(np.linalg.norm(k.reshape(9, 2), ord=2), rel=1e-6)
    # A 1x1 image through a 3x3 'same' conv sees only the centre tap: paths by enumeration.
    model1 = CNN(3, conv_filters=(2,), dense=())
    model1(np.zeros([2, 1, 1, 1], np.float32))
    c = model1.blocks[0].core.kernel.numpy()[1, 1, 0].astype(np.float64)
    o = model1.out.kernel.numpy().astype(np.float64)
    expected = sum(c[j] ** 2 * o[j, k] ** 2 for j in range(2) for k in range(3))
    got = measures.path_norm(model1, measures.folded_kernels(model1), (1, 1, 1))
    assert got == pytest.approx(math.sqrt(expected), rel=1e-10)


def test_distance_from_initialization():
    initial = {"a": np.zeros([2, 2]), "b": np.ones([2, 1])}
    now = {"a": np.array([[3.0, 0.0], [0.0, 4.0]]), "b": np.ones([2, 1])}
    per, total = measures.distances(now, initial)
    assert per == {"a": 5.0, "b": 0.0} and total == 5.0


def test_the_distance_from_init_in_a_graph_equals_the_end_of_run_one():
    """TensorBoard's distance from initialization (float32 graph code) against `measure`'s
    (float64 NumPy), per layer and in total."""
    model = _mlp(hidden=(5, 4))
    initial = {n: layer.kernel.numpy() for n, layer in model.kernel_layers()}
    for _, layer in model.kernel_layers():  # "training" moved every kernel
        layer.kernel.assign(layer.kernel * 1.3 + 0.05)
    start = [tf.constant(k) for k in initial.values()]
    dist, total = tf.function(lambda: measures.distance_measures(model, start))()
    m = measures.measure(model, _split(model), initial, _cfg())
    names = [n for n, _ in model.kernel_layers()]
    np.testing.assert_allclose(dist, [m["dist_init_layers"][n] for n in names], rtol=1e-5)
    assert float(total) == pytest.approx(m["dist_init"], rel=1e-5)


def test_sharpness_is_reproducible_for_a_seed_and_restores_the_weights():
    model = _mlp(hidden=(8,))
    split = _split(model, n=60)
    labels = split.y.argmax(-1)
    before = [w.numpy().copy() for w in model.weights]
    kwargs = dict(delta=0.1, samples=3, steps=8)
    a = measures.sharpness_sigma(model, split.x, labels, seed=5, **kwargs)
    b = measures.sharpness_sigma(model, split.x, labels, seed=5, **kwargs)
    assert a == b and 0 < a < 2
    for w, old in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), old)
    c = measures.sharpness_sigma(model, split.x, labels, seed=6, **kwargs)
    assert 0 < c < 2


def _split(model, n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=[n, 4]).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return types.SimpleNamespace(x=x, y=y)


def _cfg(**values):
    base = dict(seed=0, sharpness_samples=0, sharpness_delta=0.1, sharpness_steps=15)
    return types.SimpleNamespace(**{**base, **values})
