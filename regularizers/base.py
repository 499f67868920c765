"""The regularizer plug-in contract: flags, placement and the hooks the model and the loop call.

A regularizer is one module in this package defining a `Regularizer` subclass decorated with
`@register`. The model and the training loop call its hooks generically; nothing outside this
package names a particular regularizer. Every hook has a do-nothing default, so a regularizer
overrides only what it does:

  block_layers   layers inserted into a hidden block (Dropout, BatchNorm, noise, LayerNorm), or a
                 Keras Wrapper around its core layer (spectral normalization)
  penalty        a scalar added to the data loss inside the tape (weights or activations)
  after_step     ops on the weights after each optimizer step, inside the compiled step
  transform      the training batch, before the forward pass (mixup, cutmix, augmentation)
  gradients      the gradients the optimizer applies, from the step's loss function (SAM)
  step_values    scalars of each step's applied gradients, averaged over the epoch (clipnorm)
  loss_targets   the targets the loss sees (label smoothing); metrics keep the true labels
  optimizer_options / configure_optimizer   options of the Keras optimizer (weight decay, EMA)
  epoch_values   scalars for its `epoch_columns`, at the end of each epoch (sees an EpochContext)
  finalize       replaces the weights the run ends with (EMA's averages)
  layer_stats    per-layer TensorBoard statistics that show the regularizer's effect

The loop calls only the hooks a regularizer overrides: `@register` derives the flags that say so
(has_penalty, has_after_step, transforms_batch, has_gradients, changes_loss_targets,
finalizes_weights) from the overrides, and refuses a class whose own setting of such a flag, its
`uses_activations`, its `step_columns` or its `epoch_columns` disagree with what it overrides, so
that a plug-in cannot silently do nothing.
"""

import dataclasses
import math
from typing import Any, ClassVar

REGISTRY = {}  # --reg name -> Regularizer subclass, in registration (module name) order

# Where a block's inserted layers go: after the activation and before pooling ("normalize"), or
# after pooling ("noise"), as the tutorial's BatchNorm and Dropout. A "wrap" entry is a function
# core -> Keras Wrapper: the block calls the wrapper in place of its core (SpectralNormalization).
NORMALIZE, NOISE, WRAP = "normalize", "noise", "wrap"


# Hook flag -> the hook whose override it stands for.
HOOK_FLAGS = {
    "has_penalty": "penalty",
    "has_after_step": "after_step",
    "transforms_batch": "transform",
    "has_gradients": "gradients",
    "changes_loss_targets": "loss_targets",
    "finalizes_weights": "finalize",
}


def register(cls):
    """Class decorator: makes `cls` available as --reg=cls.name, its hook flags derived from the
    hooks it overrides (raises ValueError when what it declares disagrees with them)."""
    if cls.name in REGISTRY:
        raise ValueError(f"two regularizers named {cls.name!r}")
    for flag, hook in HOOK_FLAGS.items():
        overrides = _overrides(cls, hook)
        declared = _declared(cls, flag)
        if declared is not None and bool(declared) != overrides:
            does = "overrides" if overrides else "does not override"
            raise ValueError(
                f"regularizer {cls.name!r}: {flag} = {declared} but it {does} {hook}(); "
                f"drop {flag} (it is derived from the override)"
            )
        setattr(cls, flag, overrides)
    if cls.uses_activations and not cls.has_penalty:
        raise ValueError(
            f"regularizer {cls.name!r}: uses_activations is for penalty(), which it does not "
            "override"
        )
    for columns, hook in (("step_columns", "step_values"), ("epoch_columns", "epoch_values")):
        if bool(getattr(cls, columns)) != _overrides(cls, hook):
            raise ValueError(
                f"regularizer {cls.name!r}: {columns} and {hook}() go together: declare "
                "both or neither"
            )
    REGISTRY[cls.name] = cls
    return cls


def _overrides(cls, hook):
    return getattr(cls, hook) is not getattr(Regularizer, hook)


def _declared(cls, flag):
    """The value a class (or a base below Regularizer) sets for `flag`, or None."""
    for klass in cls.__mro__:
        if klass is Regularizer:
            return None
        if flag in vars(klass) and klass not in REGISTRY.values():  # not derived already
            return vars(klass)[flag]
    return None


@dataclasses.dataclass(frozen=True)
class EpochContext:
    """What `epoch_values` sees, inside the compiled loop at the end of each epoch (graph code;
    read and assign variables as the hook needs, and leave the weights as found)."""

    model: Any  # the model, holding the epoch's final weights
    optimizer: Any  # the Keras optimizer (training.optim.inner unwraps a LossScaleOptimizer)
    x_val: Any  # the validation inputs and one-hot labels (variables, read in the graph)
    y_val: Any
    # evaluate(x, y) -> {"data_loss", "accuracy", "mse"}: the loop's own compiled evaluation,
    # in inference mode, of the model's current weights on (x, y).
    evaluate: Any


@dataclasses.dataclass(frozen=True)
class Param:
    """One flag of a regularizer (--NAME), with its validation."""

    name: str
    default: Any
    help: str
    kind: str = "float"  # float | int | bool | enum | float_list | list (of words)
    check: Any = None  # predicate on the parsed value (a list for float_list)
    message: str = ""  # what a bad value must be, e.g. "must be >= 0"
    choices: tuple = ()

    def parse(self, text):
        """Parses a value given as text (in a per-regularizer spec); raises ValueError."""
        try:
            value = self._convert(text)
        except ValueError as e:
            if self.kind in ("float", "int", "float_list"):  # not Python's conversion message
                raise ValueError(f"{text!r} is not a number") from None
            raise e
        if not self.valid(value):
            raise ValueError(self.message)
        return value

    def _convert(self, text):
        if self.kind == "float":
            value = float(text)
        elif self.kind == "int":
            value = int(text)
        elif self.kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"{text!r} is not true or false")
            value = text.lower() in ("true", "1")
        elif self.kind == "enum":
            if text not in self.choices:
                raise ValueError(f"{text!r} is not one of {', '.join(self.choices)}")
            value = text
        elif self.kind == "list":  # '+'-separated inside a spec, like float_list
            value = [v.strip() for v in text.replace("+", ",").split(",") if v.strip()]
        else:  # float_list: '+'-separated inside a spec, since ',' separates the spec's items
            value = [float(v) for v in text.replace("+", ",").split(",") if v.strip()]
        return value

    def valid(self, value):
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            return False
        return self.check is None or bool(self.check(value))


def nonnegative(name, default, help_text):
    """A strength: a finite float >= 0."""
    return Param(
        name,
        default,
        help_text,
        check=lambda v: v >= 0,
        message=f"--{name} must be >= 0 and finite",
    )


class Regularizer:
    """Base class: a regularizer active in a run, on hidden layers `layers`, with `values`.

    Class attributes describe it; instances hold the run's placement and strengths.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # how tables and plots name it, e.g. "L1"
    params: ClassVar[tuple] = ()
    # Where it goes without --all_layers/--layers: a hidden-layer index (clamped to the model),
    # "all", or None for regularizers that are not placed on layers (weight decay, mixup, ...).
    default_layers: ClassVar[Any] = 0
    # The param that, with the layers, makes the readable part of a run name (e.g. "l1-0.01").
    strength_param: ClassVar[str] = ""

    def __init__(self, layers, values):
        self.layers = tuple(layers)
        self.values = dict(values)

    def __getattr__(self, name):  # params by name: self.l1, self.dropout_rate
        try:
            return self.__dict__["values"][name]
        except KeyError as e:
            raise AttributeError(name) from e

    @classmethod
    def placed(cls):
        return cls.default_layers is not None

    def describe(self):
        """A readable label, e.g. "L1 0.01"."""
        if not self.strength_param:
            return self.title
        return f"{self.title} {_short(self.values[self.strength_param])}"

    def name_part(self):
        """The run-name part, e.g. "l1-0.01"."""
        if not self.strength_param:
            return self.name
        return f"{self.name}-{_short(self.values[self.strength_param], sep='-')}"

    def check(self, num_hidden):
        """Raises errors.UserError when the values do not fit this placement."""

    # ---- hooks: override what the regularizer does --------------------------------------------
    def block_layers(self, index, *, seed, sync_bn):
        """[(stage, attribute name, keras layer)] inserted into hidden block `index`; `seed`:
        the run's seed; `sync_bn`: normalize over all replicas."""
        return []

    def penalty(self, model, activations):
        """A float32 scalar added to the loss, or None. `activations`: {layer name: tensor} of
        the training forward pass when `uses_activations`, else None."""
        return None

    # Which hooks it implements, derived by @register (see HOOK_FLAGS): the loop calls only those
    # (a hook nobody uses costs nothing).
    uses_activations: ClassVar[bool] = False  # its penalty needs the hidden activations (declared)
    has_penalty: ClassVar[bool] = False
    has_after_step: ClassVar[bool] = False
    transforms_batch: ClassVar[bool] = False
    changes_loss_targets: ClassVar[bool] = False
    has_gradients: ClassVar[bool] = False
    # finalize() replaces the weights the run ends with (EMA): early stopping's restored best
    # weights would be overwritten, so the two are refused together.
    finalizes_weights: ClassVar[bool] = False
    # optimizer_options() gives the optimizer its decoupled weight decay (what
    # --optimizer=adamw needs).
    decoupled_weight_decay: ClassVar[bool] = False
    # Only for image inputs [n, h, w, c] (augmentation, cutout, cutmix): refused on tabular data.
    image_only: ClassVar[bool] = False
    # Why it cannot run under --xla, or "" (augment: its image ops have no XLA kernel).
    no_xla: ClassVar[str] = ""
    # Forward-backward passes per train step (SAM: 2); metrics.json states it when not 1.
    passes_per_step: ClassVar[int] = 1
    # Extra per-epoch history columns (also TensorBoard tags): step_values() averaged over the
    # epoch's steps, then epoch_values().
    step_columns: ClassVar[tuple] = ()
    epoch_columns: ClassVar[tuple] = ()

    @classmethod
    def columns(cls):
        """Its own history columns and TensorBoard tags: step_columns, then epoch_columns."""
        return (*cls.step_columns, *cls.epoch_columns)

    def after_step(self, model, learning_rate):
        """Ops on the weights after each optimizer step (proximal maps, projections)."""

    def transform(self, x, y, seed):
        """The training batch the step uses; `seed`: a stateless [2] seed unique to the step."""
        return x, y

    def gradients(self, grads, variables, loss_at):
        """The gradients the optimizer applies to `variables`, given this step's `grads` and
        `loss_at(values)`: the step's (scaled) loss with the trainable variables at `values`,
        differentiable, the same batch and Dropout masks (SAM: the gradient at w + ε)."""
        return grads

    def step_values(self, grads, unscale):
        """[len(step_columns)] float32 scalars of this replica's step, from the gradients the
        optimizer applies (`grads` times `unscale` are their true values under loss scaling)."""
        return []

    def loss_targets(self, y):
        """The targets the training loss sees."""
        return y

    def optimizer_options(self):
        """Keyword arguments of the Keras optimizer (weight_decay, use_ema, ...)."""
        return {}

    def configure_optimizer(self, optimizer, model):
        """Called once with the optimizer before it is built."""

    def epoch_values(self, context):
        """Scalars for `epoch_columns`, computed in the compiled loop at the end of each epoch;
        `context`: an EpochContext."""
        return []

    def finalize(self, model, optimizer):
        """Called once when training ends, before the test evaluation and the export (EMA puts
        the averaged weights into the model here). Returns True when it changed the weights, so
        that the test split is evaluated on them instead of read from the last epoch's row."""
        return False

    def layer_stats(self, model, activations):
        """[(prefix, {stat: [n] vector}, [n layer names])] written every --stats_every epochs."""
        return []


def _short(value, sep=","):
    if isinstance(value, list):
        return sep.join(v if isinstance(v, str) else f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
