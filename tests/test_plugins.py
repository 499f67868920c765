"""A regularizer defined here, registered like any module of regularizers/, trains through
train.py's own code path: its flag, placement, penalty, after-step hook, statistics, name."""

import json

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import options
import regularizers
from regularizers.base import Param, Regularizer
from tests.conftest import read_scalars


class Shrink(Regularizer):
    """Penalty λ·Σw² on the placed kernels, and after each step w ← w·(1 − lr·λ)."""

    name = "shrink_for_test"
    title = "Shrink"
    params = (Param("shrink", 0.5, "test strength", check=lambda v: v >= 0, message="bad"),)
    strength_param = "shrink"
    default_layers = "all"
    has_penalty = True
    has_after_step = True
    calls = {"after_step": 0}

    def penalty(self, model, activations):
        return self.shrink * tf.add_n([tf.reduce_sum(tf.square(k)) for k in self._kernels(model)])

    def after_step(self, model, learning_rate):
        Shrink.calls["after_step"] += 1  # counted while tracing: once per compiled loop
        for k in self._kernels(model):
            k.assign(k * (1.0 - learning_rate * self.shrink))

    def layer_stats(self, model, activations):
        names = [model.blocks[i].core.name for i in self.layers]
        norms = tf.stack([tf.norm(k) for k in self._kernels(model)])
        return [("shrink", {"norm": norms}, names)]

    def _kernels(self, model):
        return model.hidden_kernels(self.layers)


@pytest.fixture
def registered():
    regularizers.register(Shrink)
    yield
    regularizers.REGISTRY.pop(Shrink.name)


def test_a_regularizer_defined_in_a_test_trains_through_train_py(registered, tmp_path):
    import train

    fv = flags.FlagValues()
    options.define_flags(fv)  # the new Param is a flag now
    fv(
        [
            "train.py",
            "--reg=shrink_for_test",
            "--shrink=0.25",
            "--hidden=16,8",
            "--epochs=6",
            "--stats_every=3",
            f"--logdir={tmp_path}",
            "--progress=lines",
        ]
    )
    cfg = options.config_from_flags(fv)
    assert train.train(cfg) == 0
    (run_dir,) = tmp_path.glob("iris_mlp_shrink_for_test-0.25_sgd-0.01_bs128_s0_*")
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["regularized_layers"] == {"shrink_for_test": [0, 1]}
    assert m["label"] == "Shrink 0.25"
    assert set(m["final"]["penalty"]) == {"shrink_for_test"}
    # The penalty at the end equals λ·Σw² of the final hidden kernels (from their L2 norms).
    norms = [m["weights"][f"dense{i}"]["l2_norm"] for i in (0, 1)]
    want = 0.25 * sum(n**2 for n in norms)
    assert m["final"]["penalty"]["shrink_for_test"] == pytest.approx(want, rel=1e-5)
    assert Shrink.calls["after_step"] >= 1
    scalars = read_scalars(run_dir)
    assert [s for s, _ in scalars["shrink/dense0/norm"]] == [3, 6]
    assert scalars["shrink/dense0/norm"][-1][1] == pytest.approx(norms[0], rel=1e-5)
    train_scalars = read_scalars(run_dir / "train")
    pen = train_scalars["loss/penalty/shrink_for_test"]
    np.testing.assert_allclose(
        [v for _, v in pen], m["history"]["penalty_shrink_for_test"], rtol=1e-6
    )


def test_its_flag_is_validated_and_refused_when_it_is_off(registered):
    fv = flags.FlagValues()
    options.define_flags(fv)
    with pytest.raises(flags.IllegalFlagValueError, match="bad"):
        fv(["train.py", "--reg=shrink_for_test", "--shrink=-1"])
    fv = flags.FlagValues()
    options.define_flags(fv)
    fv(["train.py", "--shrink=0.3"])
    with pytest.raises(regularizers.UserError, match="--shrink does nothing here"):
        options.config_from_flags(fv)


def test_the_readme_example_regularizer_works():
    """README's example regularizer module ("Extending"), run as written."""
    import re

    from models import build
    from tests.conftest import ROOT
    from tests.test_models import IRIS

    text = (ROOT / "README.md").read_text()
    code = re.search(r"## Extending.*?```python\n(.*?)```", text, re.S).group(1)
    try:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
        fv = flags.FlagValues()
        options.define_flags(fv)
        fv(["train.py", "--reg=center", "--center=0.5", "--all_layers", "--hidden=6,4"])
        cfg = options.config_from_flags(fv)
        (reg,) = regularizers.resolve(cfg, 2)
        model = build(cfg, IRIS, active=[reg])
        kernels = [model.blocks[i].core.kernel.numpy() for i in (0, 1)]
        want = 0.5 * sum(((k - k.mean()) ** 2).sum() for k in kernels)
        assert float(reg.penalty(model, None)) == pytest.approx(want, rel=1e-5)
    finally:
        regularizers.REGISTRY.pop("center", None)


def _refused(cls, message):
    with pytest.raises(ValueError, match=message):
        regularizers.register(cls)
    assert cls.name not in regularizers.REGISTRY


def test_a_plugin_whose_hook_flag_disagrees_with_its_overrides_is_refused():
    class Silent(Regularizer):  # says it adds a penalty, but the loop would call the default
        name = "silent_for_test"
        has_penalty = True

    class Unseen(Regularizer):  # overrides after_step, but says it has none
        name = "unseen_for_test"
        has_after_step = False

        def after_step(self, model, learning_rate):
            pass

    class NoValues(Regularizer):  # history columns nobody fills
        name = "no_values_for_test"
        epoch_columns = ("no_values/x",)

    class ActsUnused(Regularizer):  # activations asked for, no penalty to use them
        name = "acts_unused_for_test"
        uses_activations = True

    _refused(Silent, "has_penalty = True but it does not override penalty")
    _refused(Unseen, "has_after_step = False but it overrides after_step")
    _refused(NoValues, "epoch_columns and epoch_values")
    _refused(ActsUnused, "uses_activations is for penalty")


def test_hook_flags_are_derived_from_the_hooks_a_plugin_overrides():
    class Flip(Regularizer):
        name = "flip_for_test"

        def transform(self, x, y, seed):
            return -x, y

    regularizers.register(Flip)
    try:
        assert Flip.transforms_batch
        assert not (Flip.has_penalty or Flip.has_after_step or Flip.changes_loss_targets)
    finally:
        regularizers.REGISTRY.pop(Flip.name)
    assert Shrink.has_penalty and Shrink.has_after_step  # declared, and agreeing
