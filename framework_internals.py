"""Every private TensorFlow, Keras, absl or Python API this project uses, and every monkeypatch.

Each entry says why the public API does not do, and has a canary in
tests/test_framework_internals.py that fails in one line when an upgrade removes or changes what
it relies on. requirements.txt pins the versions under which those canaries pass. Nothing else
in the repository touches a private attribute of these libraries: add a new use here, with its
canary. Imports are local: this module is imported before TensorFlow is (cli.py, tf_runtime).
"""

import contextlib
import sys


# ---- Python and absl ----------------------------------------------------------------------------
def run_exit_handlers():
    """Runs the atexit handlers now (atexit._run_exitfuncs). Why: cli.exit_fast ends the process
    with os._exit to skip TensorFlow's slow teardown, but log handlers and temporary directories
    still need their normal exit handlers."""
    import atexit

    atexit._run_exitfuncs()


@contextlib.contextmanager
def hidden_module(name):
    """Makes `import name` raise ImportError inside the block (sys.modules[name] = None), unless
    it is loaded already. Why: Keras imports matplotlib.pyplot at start (~0.4 s) only for
    plotting helpers, and leaves them unset when that import fails; processes that never plot
    skip it (cluster/tf_runtime.never_plots)."""
    if name in sys.modules:
        yield
        return
    sys.modules[name] = None
    try:
        yield
    finally:
        if sys.modules.get(name, False) is None:
            del sys.modules[name]


def wrap_flag_parser(flag, parse):
    """Gives an absl flag its own copy of its parser, whose parse is `parse(parser, argument)`.
    Why: absl's messages for a bad integer or float do not say what the flag takes, and absl
    shares one parser object between flags of the same type (Flag.parser, replaced per flag)."""
    import copy

    own = copy.copy(flag.parser)
    own.parse = lambda argument: parse(own, argument)
    flag.parser = own


def parser_kind(flag):
    """The class name of an absl flag's parser: IntegerParser, FloatParser, BooleanParser, ...
    Why: absl has no public way to ask a flag which type it parses."""
    return type(flag.parser).__name__


# ---- TensorFlow ---------------------------------------------------------------------------------
@contextlib.contextmanager
def kernel_cache_kept():
    """Inside the block, TensorFlow's eager context does not clear its kernel cache (the
    pywrap_tfe.TFE_ContextClearCaches call that tf.random.set_seed makes does nothing). Why: a
    sweep worker reuses a compiled loop across runs; clearing the cache makes its next call
    instantiate and optimize the graph anew (~0.25 s a run). No run uses stateful random
    kernels, the only state that cache holds from the seed (training/reuse.py)."""
    from tensorflow.python import pywrap_tfe

    clear = pywrap_tfe.TFE_ContextClearCaches
    pywrap_tfe.TFE_ContextClearCaches = lambda handle: None
    try:
        yield
    finally:
        pywrap_tfe.TFE_ContextClearCaches = clear


def reopen_file_writer(writer, logdir, **queue):
    """Points a closed tf.summary file writer at `logdir` under the same resource handle, so that
    compiled graphs that captured the handle write there. Why: TF's API has no such call;
    closing deletes the resource, and creating it again under the same handle is what
    create_file_writer's own init op does (gen_summary_ops, writer._resource, writer._closed)."""
    from tensorflow.python.ops import gen_summary_ops

    gen_summary_ops.create_summary_file_writer(
        writer._resource, logdir=logdir, filename_suffix=".v2", **queue
    )
    writer._closed = False


def expand_slurm_hostlist(text):
    """'node[9-10],gpu1' -> ['node9', 'node10', 'gpu1'], in SLURM's order. Why: the parsers of
    tf.distribute's SlurmClusterResolver are module functions, not public API, and the
    resolver itself cannot be used (cluster/slurm.py says why)."""
    from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver as slurm

    return slurm.expand_hostlist(text)


def expand_slurm_tasks_per_node(text):
    """'2(x2),1' -> [2, 2, 1]. Why: as expand_slurm_hostlist."""
    from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver as slurm

    return slurm.expand_tasks_per_node(text)


# ---- Keras --------------------------------------------------------------------------------------
def learning_rate_slot(optimizer):
    """What a Keras optimizer holds as its learning rate: a float's variable, or the schedule
    object itself (optimizer._learning_rate). Why: the public `learning_rate` gives a schedule's
    current value, not the schedule, which a NaN rollback scales and a checkpoint carries."""
    return optimizer._learning_rate


def moving_average_pairs(optimizer):
    """[(model variable, its moving average)] of an optimizer built with use_ema, as Keras aligns
    them (optimizer._trainable_variables, optimizer._model_variables_moving_average). Why: Keras
    has no public accessor for the averages; the EMA plug-in evaluates them every epoch."""
    return list(
        zip(optimizer._trainable_variables, optimizer._model_variables_moving_average, strict=True)
    )


def built_variables(optimizer):
    """The variables an optimizer was built on, in build order (optimizer._trainable_variables).
    Why: finalize_variable_values assumes the model's own list; EMA checks they agree."""
    return list(optimizer._trainable_variables)


def decays_weight(optimizer, variable):
    """Whether `optimizer` applies its weight decay to `variable` (optimizer._use_weight_decay).
    Why: Keras's exclusion rules (exclude_from_weight_decay names, matched by regex) have no
    public query; the weight-decay plug-in logs Σw² over exactly the decayed variables."""
    return optimizer._use_weight_decay(variable)


def seed_generator_states(model):
    """The state variables of the model's Keras SeedGenerators (Dropout's), found by their path.
    Why: tf.train.Checkpoint does not track SeedGenerator objects in Keras 3, so checkpoints
    list these variables explicitly; Keras documents no accessor for them."""
    return [v for v in model.variables if "seed_generator" in v.path]


def stateless_seed_generator(base):
    """A keras.random.SeedGenerator without a state variable: its k-th draw is base + [0, k], as
    a real generator whose state is `base` would give. Why: Keras's image layers accept a seed
    only as an int or a SeedGenerator (keras.src.random.seed_generator.draw_seed calls its
    next()), and a stateful generator would need its state checkpointed; the batch transforms
    draw from the train step's stateless seed instead (regularizers/step_seeds.py)."""
    import keras
    import tensorflow as tf

    class StepSeed(keras.random.SeedGenerator):
        def __init__(self, base):  # no super().__init__: it would create the state variable
            self.base = base
            self.draws = 0

        def next(self, ordered=True):
            seed = self.base + tf.constant([0, self.draws], tf.int64)
            self.draws += 1
            return seed

    return StepSeed(base)


def cutmix_box_mask(layer, images_shape, corners):
    """Keras CutMix's mask and label weight for given box corners (x0, x1, y0, y1), per image
    (layer._generate_batch_mask). Why: the cutmix plug-in's test compares its box with Keras's
    on the same corners; Keras draws the corners and builds the mask in one private step."""
    return layer._generate_batch_mask(images_shape, corners)
