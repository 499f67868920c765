"""Explicit penalties equal Keras's regularizers; resolve() places regularizers as the flags say."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import regularizers
from errors import UserError
from regularizers.penalties import l1, l1_l2, l2
from tests.parity import make_config

RNG = np.random.default_rng(0)
KERNELS = [tf.constant(RNG.normal(size=s).astype(np.float32)) for s in [(4, 8), (8, 3)]]


@pytest.mark.parametrize("strength", [0.01, 0.3])
def test_l1_l2_equal_keras_regularizers(strength):
    want_l1 = sum(float(keras.regularizers.L1(strength)(k)) for k in KERNELS)
    want_l2 = sum(float(keras.regularizers.L2(strength)(k)) for k in KERNELS)
    assert float(l1(KERNELS, strength)) == pytest.approx(want_l1, rel=1e-6)
    assert float(l2(KERNELS, strength)) == pytest.approx(want_l2, rel=1e-6)
    both = sum(float(keras.regularizers.L1L2(strength, 2 * strength)(k)) for k in KERNELS)
    assert float(l1_l2(KERNELS, strength, 2 * strength)) == pytest.approx(both, rel=1e-6)


def test_l2_has_no_half_and_l1_is_abs_sum():
    w = [tf.constant([[1.0, -2.0], [0.0, 3.0]])]
    assert float(l1(w, 0.1)) == pytest.approx(0.6)
    assert float(l2(w, 0.1)) == pytest.approx(1.4)


def test_penalty_on_no_layers_is_zero():
    assert float(l1([], 0.5)) == 0.0
    assert float(l2([], 0.5)) == 0.0


def placed(num_hidden=5, **flag_values):
    """{name: (layers, values)} of the regularizers resolve() activates for these flags."""
    active = regularizers.resolve(make_config(**flag_values), num_hidden)
    return {r.name: (r.layers, r.values) for r in active}


@pytest.mark.parametrize(
    "flag_values, want",
    [
        # Without --all_layers/--layers: where the tutorial put each one.
        ({"reg": "l1"}, {"l1": (0,)}),
        ({"reg": "l2"}, {"l2": (0,)}),
        ({"reg": "dropout"}, {"dropout": (0,)}),
        ({"reg": "batchnorm"}, {"batchnorm": (1,)}),
        ({"reg": "none"}, {}),
        ({"reg": "l1", "all_layers": "true"}, {"l1": (0, 1, 2, 3, 4)}),
        ({"reg": "batchnorm", "all_layers": "true"}, {"batchnorm": (0, 1, 2, 3, 4)}),
        ({"reg": "l2,dropout"}, {"l2": (0,), "dropout": (0,)}),
        (
            {"reg": "l1,l2,batchnorm", "layers": "2,0"},
            {"l1": (0, 2), "l2": (0, 2), "batchnorm": (0, 2)},
        ),
        # The order of --reg does not matter: registry order.
        ({"reg": "dropout,l1"}, {"l1": (0,), "dropout": (0,)}),
        # --regularizer specs: own layers (all, index, range, +), own values.
        ({"regularizer": "l1@all"}, {"l1": (0, 1, 2, 3, 4)}),
        ({"regularizer": "l1@3"}, {"l1": (3,)}),
        ({"regularizer": "l1@1-3"}, {"l1": (1, 2, 3)}),
        ({"regularizer": "l1@4+0"}, {"l1": (0, 4)}),
        ({"regularizer": "l1"}, {"l1": (0,)}),
        # A spec keeps its own layers next to --reg placed by --all_layers.
        (
            {"reg": "l2", "all_layers": "true", "regularizer": "dropout@2"},
            {"l2": (0, 1, 2, 3, 4), "dropout": (2,)},
        ),
    ],
)
def test_resolve_places_regularizers(flag_values, want):
    got = placed(**flag_values)
    assert {name: layers for name, (layers, _) in got.items()} == want
    assert list(got) == [n for n in regularizers.REGISTRY if n in want]


def test_resolve_takes_values_from_flags_and_specs():
    got = placed(reg="l2", l2="0.003", regularizer="l1@0-1,l1=0.25")
    assert got["l2"] == ((0,), {"l2": 0.003})
    assert got["l1"] == ((0, 1), {"l1": 0.25})
    # A spec's list value joins its items with +; the flag keeps its default elsewhere.
    got = placed(regularizer="dropout@0+2,dropout_rate=0.5+0.3")
    assert got["dropout"] == ((0, 2), {"dropout_rate": [0.5, 0.3]})
    got = placed(reg="dropout", layers="1,3", dropout_rate="0.2,0.4")
    assert got["dropout"] == ((1, 3), {"dropout_rate": [0.2, 0.4]})


@pytest.mark.parametrize("n", [1, 3])
def test_default_layers_clamp_to_small_models(n):
    assert placed(n, reg="batchnorm")["batchnorm"][0] == (min(1, n - 1),)


@pytest.mark.parametrize(
    "flag_values, message",
    [
        ({"reg": "l1", "layers": "5"}, "--layers index 5 is out of range: the model has 5"),
        (
            {"reg": "dropout", "layers": "0,1,2", "dropout_rate": "0.5,0.3"},
            "--dropout_rate has 2 values but Dropout goes after 3 layers",
        ),
        ({"regularizer": "l3@0"}, "unknown regularizer 'l3'"),
        ({"regularizer": "none"}, "unknown regularizer 'none'"),
        ({"regularizer": "l1@0,l2=0.1"}, "'l2=0.1' is not PARAM=VALUE with a parameter of l1"),
        ({"regularizer": "l1@0,0.1"}, "'0.1' is not PARAM=VALUE"),
        ({"regularizer": "l1,l1=-1"}, "l1='-1': --l1 must be >= 0"),
        ({"regularizer": "l1,l1=abc"}, "l1='abc'"),
        ({"regularizer": "l1,l1=nan"}, "--l1 must be >= 0"),
        ({"regularizer": "dropout,dropout_rate=0.5+1"}, "values must be numbers in [0, 1)"),
        ({"regularizer": "l1@2-1"}, "layers '2-1' must be all, an index"),
        ({"regularizer": "l1@x"}, "layers 'x' must be all, an index"),
        ({"regularizer": "l1@7"}, "l1: layer 7 is out of range: the model has 5 hidden"),
        ({"reg": "l1", "regularizer": "l1@2"}, "l1 is given in --reg and --regularizer"),
    ],
)
def test_resolve_errors(flag_values, message):
    with pytest.raises(UserError) as e:
        placed(**flag_values)
    assert message in str(e.value)


def test_resolve_refuses_the_same_spec_twice():
    fv_cfg = make_config(regularizer="l1@0")
    twice = dataclasses.replace(fv_cfg, values={**fv_cfg.values, "regularizer": ["l1@0", "l1@1"]})
    with pytest.raises(UserError, match="l1 is given twice in --regularizer"):
        regularizers.resolve(twice, 5)


def test_unplaced_regularizers_refuse_layers():
    unplaced = [name for name, cls in regularizers.REGISTRY.items() if not cls.placed()]
    if not unplaced:
        pytest.skip("no unplaced regularizer is registered")
    with pytest.raises(UserError, match=f"{unplaced[0]} is not placed on layers"):
        placed(regularizer=f"{unplaced[0]}@0")
