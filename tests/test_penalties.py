"""Explicit penalties equal Keras's regularizers; placement puts them where the flags say."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from errors import UserError
from models import placement
from regularizers import l1, l1_l2, l2

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


@pytest.mark.parametrize(
    "regs, kwargs, want",
    [
        (["l1"], {}, {"l1": (0,)}),
        (["l2"], {}, {"l2": (0,)}),
        (["dropout"], {}, {"dropout": ((0, 0.5),)}),
        (["batchnorm"], {}, {"batchnorm": (1,)}),
        (["l1"], {"all_layers": True}, {"l1": (0, 1, 2, 3, 4)}),
        (["batchnorm"], {"all_layers": True}, {"batchnorm": (0, 1, 2, 3, 4)}),
        (["l2", "dropout"], {}, {"l2": (0,), "dropout": ((0, 0.5),)}),
        (
            ["l1", "l2", "batchnorm"],
            {"layers": [2, 0]},
            {"l1": (0, 2), "l2": (0, 2), "batchnorm": (0, 2)},
        ),
        (
            ["dropout"],
            {"layers": [0, 1, 2, 3], "dropout_rate": [0.5, 0.5, 0.5, 0.3]},
            {"dropout": ((0, 0.5), (1, 0.5), (2, 0.5), (3, 0.3))},
        ),
        (
            ["dropout"],
            {"all_layers": True, "dropout_rate": [0.2]},
            {"dropout": tuple((i, 0.2) for i in range(5))},
        ),
        ([], {}, {}),
    ],
)
def test_placement(regs, kwargs, want):
    p = placement.plan(regs, 5, **kwargs)
    for reg in ("l1", "l2", "batchnorm", "dropout"):
        assert getattr(p, reg) == want.get(reg, ()), reg


def test_placement_errors():
    with pytest.raises(UserError, match="--layers index 5 is out of range"):
        placement.plan(["l1"], 5, layers=[5])
    with pytest.raises(UserError, match="--dropout_rate has 2 values"):
        placement.plan(["dropout"], 5, layers=[0, 1, 2], dropout_rate=[0.5, 0.3])
