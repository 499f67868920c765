"""Canaries of framework_internals.py: one per private API or monkeypatch the project relies on.

Each fails in one line naming the internal, the library versions and who needs it, when an
upgrade removes or changes what the project relies on; requirements.txt pins versions under which
they all pass.
"""

import contextlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import framework_internals as fi
from tests.conftest import ROOT


@contextlib.contextmanager
def canary(internal, needed_by):
    """Turns any failure inside into one line: what broke, under which versions, who needs it."""
    try:
        yield
    except Exception as e:  # AssertionError included: the internal changed its behaviour
        detail = " ".join(f"{type(e).__name__}: {e}".split())
        pytest.fail(
            f"framework internal {internal} changed under tensorflow {tf.__version__}, keras "
            f"{keras.__version__} (needed by {needed_by}): {detail}; keep requirements.txt's "
            "pins or port framework_internals.py",
            pytrace=False,
        )


def _python(code):
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.strip().splitlines()[-1:]
    return proc.stdout.split()


def test_atexit_handlers_can_run_before_os_exit():
    with canary("atexit._run_exitfuncs", "cli.exit_fast"):
        out = _python(
            "import atexit, os, framework_internals as fi; atexit.register(print, 'ran'); "
            "fi.run_exit_handlers(); os._exit(0)"
        )
        assert out == ["ran"]


@pytest.mark.parametrize(
    "first, loaded, keras_plots",
    [("train", "False", "False"), ("options", "True", "True")],
    ids=["train.py", "a notebook"],
)
def test_keras_loads_matplotlib_only_where_something_may_plot(first, loaded, keras_plots):
    """Keras imports matplotlib.pyplot at start (~0.4 s a process). train.py (and the sweep's
    processes) never plot: matplotlib stays unloaded while Keras loads, and is importable
    normally afterwards. A notebook importing our modules keeps Keras's plotting helpers."""
    code = (
        f"import sys; import {first}; print('matplotlib' in sys.modules); "
        "from keras.src.visualization import plot_image_gallery as g; print(g.plt is not None); "
        "import matplotlib.pyplot as plt; print(callable(plt.figure))"
    )
    with canary("sys.modules['matplotlib'] = None while Keras loads", "cluster/tf_runtime"):
        assert _python(code) == [loaded, keras_plots, "True"]


def test_a_flag_gets_its_own_wrapped_parser():
    fv = flags.FlagValues()
    flags.DEFINE_integer("n", 1, "", flag_values=fv)
    flags.DEFINE_integer("m", 1, "", flag_values=fv)
    flags.DEFINE_float("x", 1.0, "", flag_values=fv)
    flags.DEFINE_bool("b", False, "", flag_values=fv)
    with canary("absl Flag.parser (replaced per flag)", "options._explain_parse_errors"):
        kinds = [fi.parser_kind(fv[name]) for name in ("n", "x", "b")]
        assert kinds == ["IntegerParser", "FloatParser", "BooleanParser"]

        def parse(own, argument):
            try:
                return type(own).parse(own, argument)
            except ValueError as e:
                raise ValueError(f"{e}; --n takes an integer") from e

        fi.wrap_flag_parser(fv["n"], parse)
        with pytest.raises(flags.IllegalFlagValueError, match="--n takes an integer"):
            fv(["prog", "--n=x"])
        fv(["prog", "--n=3", "--m=4"])
        assert (fv.n, fv.m) == (3, 4)
        with pytest.raises(flags.IllegalFlagValueError) as e:  # the shared parser: unchanged
            fv["m"].parse("y")
        assert "takes an integer" not in str(e.value)


def test_seeding_clears_the_kernel_cache_through_the_swapped_function():
    from tensorflow.python import pywrap_tfe

    tf.zeros([1]).numpy()  # an initialized eager context, as after a worker's first run
    with canary("pywrap_tfe.TFE_ContextClearCaches", "training/reuse.set_random_seed"):
        calls = []
        original = pywrap_tfe.TFE_ContextClearCaches
        pywrap_tfe.TFE_ContextClearCaches = lambda handle: calls.append(handle)
        try:
            keras.utils.set_random_seed(0)
            assert calls, "tf.random.set_seed no longer clears caches through it"
            calls.clear()
            with fi.kernel_cache_kept():
                keras.utils.set_random_seed(0)
            assert not calls
        finally:
            pywrap_tfe.TFE_ContextClearCaches = original


def test_a_closed_writer_reopens_where_a_compiled_graph_writes(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = tf.summary.create_file_writer(str(tmp_path / "a"))

    @tf.function
    def write(step):
        with writer.as_default():
            tf.summary.scalar("x", tf.cast(step, tf.float32), step=step)
        writer.flush()

    with canary("gen_summary_ops + SummaryWriter._resource/_closed", "inspection/summaries"):
        write(tf.constant(1, tf.int64))
        writer.close()
        fi.reopen_file_writer(writer, str(tmp_path / "b"), max_queue=10, flush_millis=1000)
        write(tf.constant(2, tf.int64))  # the graph traced before: it holds the handle
        writer.close()
        events = EventAccumulator(str(tmp_path / "b"))
        events.Reload()
        assert [e.step for e in events.Tensors("x")] == [2]


def test_slurm_host_lists_expand_in_slurm_order():
    with canary("slurm_cluster_resolver.expand_hostlist/_tasks_per_node", "cluster/slurm"):
        assert fi.expand_slurm_hostlist("node[9-10],gpu1") == ["node9", "node10", "gpu1"]
        assert fi.expand_slurm_tasks_per_node("2(x2),1") == [2, 2, 1]


def test_the_learning_rate_slot_is_the_variable_or_the_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    with canary("Optimizer._learning_rate", "training/optim (NaN rollback, checkpoints)"):
        slot = fi.learning_rate_slot(keras.optimizers.SGD(learning_rate=0.25))
        assert isinstance(slot, keras.Variable) and float(slot.numpy()) == 0.25
        assert fi.learning_rate_slot(keras.optimizers.SGD(learning_rate=schedule)) is schedule


def test_the_moving_averages_pair_with_the_built_variables():
    w = keras.Variable(np.array([1.0, 2.0], np.float32), name="w")
    optimizer = keras.optimizers.SGD(learning_rate=0.5, use_ema=True, ema_momentum=0.9)
    internal = "Optimizer._trainable_variables/_model_variables_moving_average"
    with canary(internal, "regularizers/ema"):
        optimizer.build([w])
        assert fi.built_variables(optimizer) == [w]
        (pair,) = fi.moving_average_pairs(optimizer)
        assert pair[0] is w
        optimizer.apply_gradients([(tf.constant([1.0, 1.0]), w)])  # first step: average = w
        optimizer.apply_gradients([(tf.constant([1.0, 1.0]), w)])
        np.testing.assert_allclose(pair[1].numpy(), 0.9 * np.array([0.5, 1.5]) + 0.1 * w.numpy())


def test_the_weight_decay_rule_is_queryable():
    kernel = keras.Variable(np.ones([2, 2], np.float32), name="kernel")
    bias = keras.Variable(np.zeros([2], np.float32), name="bias")
    optimizer = keras.optimizers.AdamW(weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    with canary("Optimizer._use_weight_decay", "regularizers/weight_decay"):
        optimizer.build([kernel, bias])
        assert fi.decays_weight(optimizer, kernel) and not fi.decays_weight(optimizer, bias)


def test_dropout_seed_states_are_found_by_their_path():
    dropout = keras.layers.Dropout(0.5, seed=1)
    model = keras.Sequential([keras.Input([3]), keras.layers.Dense(2), dropout])
    with canary("SeedGenerator state path 'seed_generator'", "training/loop checkpoints"):
        states = fi.seed_generator_states(model)
        assert [id(v) for v in states] == [id(dropout.seed_generator.state)]


def test_a_stateless_seed_generator_draws_what_a_keras_generator_would():
    base = tf.constant([3, 40], tf.int64)
    layer = keras.layers.RandomRotation(0.1)
    images = tf.ones([4, 6, 6, 1])
    with canary("SeedGenerator subclass without state (draw_seed -> next())", "augment, cutout"):
        ours = layer.get_random_transformation(
            images, training=True, seed=fi.stateless_seed_generator(base)
        )
        layer.generator.state.assign(base)
        theirs = layer.get_random_transformation(images, training=True)
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(np.asarray(ours[key]), np.asarray(theirs[key]), key)


def test_cutmix_box_mask_marks_the_box_and_weighs_the_labels_by_its_area():
    layer = keras.layers.CutMix()
    corners = [tf.constant([v]) for v in (1.0, 3.0, 2.0, 5.0)]  # x0, x1, y0, y1
    with canary("CutMix._generate_batch_mask", "tests of the cutmix plug-in"):
        mask, weight = fi.cutmix_box_mask(layer, (1, 6, 4, 1), corners)
        assert mask.shape == (1, 6, 4, 1) and int(tf.reduce_sum(tf.cast(mask, tf.int32))) == 6
        assert np.ravel(weight) == pytest.approx([1 - 6 / 24])
