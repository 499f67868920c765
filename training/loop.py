"""The compiled training loop: many epochs per tf.function call, data kept on device.

`Trainer.run(first, last)` trains epochs [first, last) in one call (Orbit's steps-per-loop idea):
each epoch reshuffles with a stateless seed (seed, epoch), runs the train steps under the
tf.distribute strategy (accumulating train metrics over its batches, as Keras fit reports them),
evaluates the validation split in inference mode, stores a history row, writes
TensorBoard summaries at the chosen cadence, and stops early on a non-finite loss. Input order is
a pure function of (seed, epoch), so resuming needs no iterator state.
"""

import keras
import tensorflow as tf

import framework_internals
from inspection import calibration, epoch_summaries, stats
from regularizers.base import EpochContext
from training import optim
from training.early_stopping import EarlyStopping

EVAL_BATCH = 4096  # evaluation and probe chunk size: bounds memory on large splits
# An evaluation's metrics: means over the split's examples.
EVAL_METRICS = ("data_loss", "accuracy", "mse")
# A train epoch's metrics, summed over its examples in the steps (in one vector: one all-reduce
# a step), then means: cross-entropy, accuracy, MSE of probabilities, the step's penalty.
TRAIN_METRICS = ("data_loss", "accuracy", "mse", "penalty")


def history_columns(active):
    """Columns of the per-epoch history: metrics, one per active penalty, then the rest."""
    penalties = [f"penalty_{r.name}" for r in active if r.has_penalty]
    extra = [name for r in active for name in r.columns()]
    return (
        "train_data_loss",
        "train_accuracy",
        "train_mse",
        "val_data_loss",
        "val_accuracy",
        "val_mse",
        *penalties,
        "train_step_penalty",
        "learning_rate",
        *extra,
    )


class Trainer:
    """Owns the compiled loop of one run: its data on device, history and epoch variables, and
    the hooks of the active regularizers (`active`, from regularizers.resolve)."""

    def __init__(self, model, optimizer, strategy, dataset, cfg, writers=None, active=()):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.cfg = cfg
        self.writers = writers
        self.active = tuple(active)
        self.columns = history_columns(self.active)
        # The hooks each active regularizer implements, looked up once: a hook nobody uses adds
        # nothing to the graph.
        self._penalizers = [r for r in self.active if r.has_penalty]
        self._after_step = [r for r in self.active if r.has_after_step]
        self._transforms = [r for r in self.active if r.transforms_batch]
        self._smoothers = [r for r in self.active if r.changes_loss_targets]
        self._gradient_hooks = [r for r in self.active if r.has_gradients]
        self._step_valued = [r for r in self.active if r.step_columns]
        self._with_acts = any(r.uses_activations for r in self._penalizers)
        # Cadences in epochs (0: never). Every worker tracks the step statistics on the same
        # epochs (they involve collectives, which all workers must run alike); only the one with
        # writers (the chief) computes and writes the rest.
        on = cfg.log_every > 0
        chief = writers is not None
        self.track_every = cfg.stats_every if on else 0
        self.log_every = cfg.log_every if chief and on else 0
        self.stats_every = self.track_every if chief else 0
        self.hist_every = cfg.hist_every if chief and on else 0
        # Calibration of the validation pass, for TensorBoard only: nothing without summaries.
        self.ece_bins = cfg.ece_bins if self.log_every else 0
        self.loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        # The run's data and seed are variables, not values traced into the graph: the compiled
        # loop can then train another run of the same structure (training/reuse.py).
        self.x_train = _state(dataset.train.x, "x_train")
        self.y_train = _state(dataset.train.y, "y_train")
        self.x_val = _state(dataset.val.x, "x_val")
        self.y_val = _state(dataset.val.y, "y_val")
        self.seed = _state(tf.constant(cfg.seed, tf.int64), "seed")
        self.n_train = len(dataset.train)
        self.batch_size = min(cfg.batch_size, self.n_train)
        self.num_batches = -(-self.n_train // self.batch_size)
        self.evaluations = {}  # split name -> passes outside the loop (the test split: one)
        # The kernels as initialized, for the distance from initialization on the histogram
        # cadence. Seeded initializers make them the run's first kernels on a resume too (before
        # the checkpoint is restored), so they need no checkpoint of their own.
        self.initial_kernels = [
            tf.Variable(tf.identity(k), trainable=False, name="initial_kernel")
            for k in self._kernels()
            if self.hist_every
        ]
        # Not strategy variables: plain host state, checkpointed with the model.
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.history = tf.Variable(
            tf.fill([cfg.epochs, len(self.columns)], float("nan")), trainable=False, name="history"
        )
        # Early stopping's state (None without it): patience and best weights, all checkpointed.
        self.early_stopping = (
            EarlyStopping(cfg, model, strategy) if cfg.early_stopping_patience > 0 else None
        )
        self._step = (
            tf.function(self._replica_step, jit_compile=True, autograph=False)
            if cfg.xla
            else self._replica_step
        )
        # No autograph in any of the loop's functions: the loop is written with tf.while_loop and
        # tf.cond, and converting it (and the Keras code it calls) cost ~0.6 s a process.
        self.run = tf.function(self._run_epochs, autograph=False)
        self._evaluate_fn = tf.function(lambda x, y: self._evaluate(x, y)[0], autograph=False)
        # All that the regularizers' epoch_values hooks see of the loop.
        self._context = EpochContext(
            model=model,
            optimizer=optimizer,
            x_val=self.x_val,
            y_val=self.y_val,
            evaluate=self._evaluate_fn,
        )

    # ---- one train step, in replica context -------------------------------------------------
    def _replica_step(self, idx, seed):
        """One optimizer step on this replica's slice of batch `idx`: metric sums, and the
        kernels' local gradients for the step statistics (summed across replicas only on the
        tracked steps, in cross-replica code). `seed`: the step's stateless seed."""
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync
        rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        global_batch = tf.shape(idx)[0]
        # Every replica sees the global batch's indices and takes its own contiguous slice.
        local = idx[global_batch * rid // replicas : global_batch * (rid + 1) // replicas]
        x = tf.gather(self.x_train, local)
        y = tf.gather(self.y_train, local)
        for reg in self._transforms:
            x, y = reg.transform(x, y, seed)
        targets = y
        for reg in self._smoothers:
            targets = reg.loss_targets(targets)
        variables = self.model.trainable_variables
        # The state before this step's forward pass (Dropout seeds, BatchNorm statistics): a
        # gradient hook's extra pass (SAM) sees the same masks and leaves the state alone.
        state = None
        if self._gradient_hooks:
            state = [tf.identity(v) for v in self.model.non_trainable_variables]
        with tf.GradientTape() as tape:
            logits, acts, per_example, penalty, target = self._loss(x, targets, global_batch)
        grads = tape.gradient(target, variables)
        # ---- regularizer gradient hooks (SAM) and per-step values (clipnorm) ----
        for reg in self._gradient_hooks:
            grads = reg.gradients(
                grads,
                variables,
                lambda values: self._loss_at(values, state, x, targets, global_batch),
            )
        step_values = None
        if self._step_valued:
            unscale = 1.0
            if self.loss_scaled:
                unscale = 1.0 / tf.cast(self.optimizer.scale_loss(1.0), tf.float32)
            step_values = tf.stack(
                [v for r in self._step_valued for v in r.step_values(grads, unscale)]
            )
        # ---- end of the regularizer hooks ----
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        hits = tf.equal(tf.argmax(logits, -1), tf.argmax(y, -1))
        batch_penalty = penalty if penalty is not None else tf.zeros([])
        sums = {  # summed over replicas and batches -> epoch means
            "data_loss": tf.reduce_sum(per_example),
            "accuracy": tf.reduce_sum(tf.cast(hits, tf.float32)),
            "mse": tf.reduce_sum(tf.reduce_mean(tf.square(tf.nn.softmax(logits) - y), -1)),
            "penalty": batch_penalty * tf.cast(tf.shape(local)[0], tf.float32),
        }
        out = {"sums": tf.stack([sums[name] for name in TRAIN_METRICS])}
        if step_values is not None:
            out["step_values"] = step_values
        if self.track_every:
            by_id = {id(v): g for g, v in zip(grads, variables, strict=True)}
            out["kernel_grads"] = [by_id[id(k)] for k in self._kernels()]
        return out

    def _loss(self, x, targets, global_batch):
        """The training forward pass: (logits, activations, per-example loss, penalty, the
        (scaled) loss to differentiate)."""
        if self._with_acts:
            logits, acts = self.model(x, training=True, return_activations=True)
        else:
            logits, acts = self.model(x, training=True), None
        logits = tf.cast(logits, tf.float32)
        per_example = tf.nn.softmax_cross_entropy_with_logits(targets, logits)
        data_loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        penalty = self._penalty(acts)
        # Gradients are summed over replicas, so each replica adds 1/replicas of the penalty.
        loss = (
            data_loss + tf.nn.scale_regularization_loss(penalty)
            if penalty is not None
            else data_loss
        )
        target = self.optimizer.scale_loss(loss) if self.loss_scaled else loss
        return logits, acts, per_example, penalty, target

    def _loss_at(self, values, state, x, targets, global_batch):
        """The step's (scaled) loss with the trainable variables at `values` and the other model
        variables at `state`, without changing any variable (a Keras StatelessScope)."""
        mapping = [
            *zip(self.model.trainable_variables, values, strict=True),
            *zip(self.model.non_trainable_variables, state, strict=True),
        ]
        with keras.StatelessScope(state_mapping=mapping):
            return self._loss(x, targets, global_batch)[-1]

    def _penalties(self, acts):
        return [r.penalty(self.model, acts) for r in self._penalizers]

    def _penalty(self, acts):
        """The sum of the active penalties (float32), or None when no regularizer has one."""
        terms = self._penalties(acts)
        if not terms:
            return None
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total

    # ---- evaluation, in cross-replica context (every worker evaluates the same weights) ------
    def _eval_chunk(self, xb, yb, with_acts, calibrate=False):
        """Sums of cross-entropy, hits and squared error over a chunk (+ activations); with
        `calibrate`, followed by calibration.bin_sums."""
        result = self.model(xb, training=False, return_activations=with_acts)
        logits, acts = result if with_acts else (result, None)
        logits = tf.cast(logits, tf.float32)
        ce = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(yb, logits))
        hits = tf.cast(tf.equal(tf.argmax(logits, -1), tf.argmax(yb, -1)), tf.float32)
        hit = tf.reduce_sum(hits)
        probs = tf.nn.softmax(logits)
        squared_error = tf.square(probs - yb)
        sq = tf.reduce_sum(tf.reduce_mean(squared_error, -1))
        sums = tf.stack([ce, hit, sq])
        # Calibration reuses the tensors above, and its own ops sit in a name scope so that
        # every other op keeps its name: Grappler's rewrites (the order of an add_n's inputs)
        # follow names, and a renamed op can change a last bit elsewhere.
        if calibrate:
            with tf.name_scope("calibration"):
                calib = calibration.bin_sums(probs, hits, squared_error, self.ece_bins)
                sums = tf.concat([sums, calib], 0)
        return sums, acts

    def _evaluate(self, x, y, probe=False, calibrate=False):
        """({data_loss, accuracy, mse}: means over (x, y); MSE of probabilities vs one-hot;
        with `calibrate`, "calibration": the means of calibration.bin_sums), and the probe
        activations."""
        chunk = self._eval_chunk
        n = int(x.shape[0])
        if n <= EVAL_BATCH:  # one pass gives the metrics and the probe activations
            sums, acts = chunk(x, y, probe, calibrate)
            return _metrics(sums / n, calibrate), acts

        def add_chunk(start, sums):
            xb, yb = x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH]
            return start + EVAL_BATCH, sums + chunk(xb, yb, False, calibrate)[0]

        width = 3 + (calibration.sums_width(self.ece_bins) if calibrate else 0)
        _, sums = tf.while_loop(lambda start, _: start < n, add_chunk, (0, tf.zeros([width])))
        acts = chunk(x[:EVAL_BATCH], y[:EVAL_BATCH], True)[1] if probe else None
        return _metrics(sums / n, calibrate), acts

    def evaluate(self, split, name):
        """{data_loss, accuracy, mse} of the current weights on `split` (counted by `name`)."""
        self.evaluations[name] = self.evaluations.get(name, 0) + 1
        metrics = self._evaluate_fn(tf.constant(split.x), tf.constant(split.y))
        return {key: float(value) for key, value in metrics.items()}

    # ---- many epochs in one compiled call -----------------------------------------------------
    def _run_epochs(self, first, last):
        """Trains epochs [first, last); returns the first epoch whose history row is not
        finite (the chunk ends there), or -1. Early stopping also ends the chunk."""

        def more(epoch, diverged, stop):
            return tf.logical_and(epoch < last, tf.logical_not(stop))

        def one_epoch(epoch, diverged, stop):
            row, values = self._train_epoch(epoch)
            finite = tf.reduce_all(tf.math.is_finite(values))
            stop = tf.logical_not(finite)
            if self.early_stopping:  # a diverged epoch ends the chunk before patience sees it
                stop = tf.logical_or(
                    stop,
                    tf.cond(
                        finite,
                        lambda: self.early_stopping.update(epoch, row),
                        lambda: tf.constant(False),
                    ),
                )
            return epoch + 1, tf.where(finite, diverged, epoch), stop

        start = (first, tf.constant(-1, tf.int64), tf.constant(False))
        return tf.while_loop(more, one_epoch, start)[1]

    def _train_epoch(self, epoch):
        """One epoch: the train steps, the validation pass, the history row and the summaries
        due; returns the row, as {column: scalar} and as the vector stored in the history."""
        n, bs, nb = self.n_train, self.batch_size, self.num_batches
        total = self.cfg.epochs
        probe = bool(self.stats_every or self.hist_every or self._with_acts)
        step = epoch + 1
        order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([self.seed, epoch])))
        tracked_epoch = _due(step, self.track_every, total)

        def train_step(b, sums, step_sums, last_step):
            idx = order[b * bs : tf.minimum((b + 1) * bs, n)]
            track = _and(tracked_epoch, True if nb == 1 else tf.equal(b, nb - 1))
            before = self._weights_before(track)
            lr = self._learning_rate() if self._after_step else None
            step_seed = tf.stack([self.seed + 1, epoch * nb + tf.cast(b, tf.int64)])
            out = self.strategy.run(self._step, args=(idx, step_seed))
            for reg in self._after_step:  # cross-replica: every replica's copy alike
                reg.after_step(self.model, lr)
            sums += self.strategy.reduce("SUM", out["sums"], axis=None)
            if self._step_valued:
                step_sums += self.strategy.reduce("SUM", out["step_values"], axis=None)
            if self.track_every:
                last_step = self._step_stats(track, out["kernel_grads"], before, last_step)
            return b + 1, sums, step_sums, last_step

        n_step_values = sum(len(r.step_columns) for r in self._step_valued)
        _, sums, step_sums, last_step = tf.while_loop(
            lambda b, *_: b < nb,
            train_step,
            (tf.constant(0), tf.zeros([4]), tf.zeros([n_step_values]), self._zero_step_stats()),
            maximum_iterations=nb,
        )
        step_means = step_sums / float(nb * self.strategy.num_replicas_in_sync)
        # Train metrics as Keras fit reports them: means over the epoch's training batches
        # (training mode, Dropout active). Validation: a full pass in inference mode.
        train = _named(sums / n, TRAIN_METRICS)
        calibrate = bool(self.ece_bins)
        val, acts = self._evaluate(self.x_val, self.y_val, probe=probe, calibrate=calibrate)
        calib = val.pop("calibration", None)
        row = self._history_row(train, val, acts, step_means)
        values = tf.stack([row[name] for name in self.columns])
        self.history.scatter_nd_update([[epoch]], [values])
        self.epoch.assign(step)
        self._write_summaries(step, row, tracked_epoch, last_step, acts, calib)
        return row, values

    def _write_summaries(self, step, row, tracked_epoch, last_step, acts, calib=None):
        """The summaries due at epoch `step` (1-based), written by inspection.epoch_summaries
        (the validation pass's calibration by inspection.calibration). Python booleans when
        the cadence is 1 or 0: no graph branch at all."""
        total, writers, model, active = self.cfg.epochs, self.writers, self.model, self.active

        def scalars():  # the calibration scalars only on the epochs they are written
            calibrated = None
            if calib is not None:
                with tf.name_scope("calibration"):  # as in _eval_chunk
                    calibrated = calibration.scalars_from_sums(calib, self.ece_bins)
            epoch_summaries.write_epoch_scalars(writers, step, row, active, calibrated)

        _when(_due(step, self.log_every, total), scalars)
        if self.stats_every:  # the chief writes what all tracked
            threshold = self.cfg.sparsity_threshold
            _when(
                tracked_epoch,
                lambda: epoch_summaries.write_layer_stats(
                    writers.root, step, model, active, last_step, acts, threshold
                ),
            )

        def histograms():
            epoch_summaries.write_weight_histograms(writers.root, step, model, acts)
            epoch_summaries.write_measures(writers.root, step, model, self.initial_kernels)

        _when(_due(step, self.hist_every, total), histograms)

    def _learning_rate(self):
        return tf.cast(self.optimizer.learning_rate, tf.float32)

    # ---- step statistics of the tracked step, in cross-replica code ------------------------------
    # Here rather than in the replica step: a collective cannot sit in a branch of replica code,
    # so summing the gradients there would cost an all-reduce on every step.
    def _kernels(self):
        return [layer.kernel for _, layer in self.model.kernel_layers()]

    def _weights_before(self, track):
        """The kernels before the step, on tracked steps only: holding them makes the update
        copy each kernel instead of writing it in place."""
        if not self.track_every:
            return None
        kernels = self._kernels()
        return _when(
            track,
            lambda: [tf.identity(k) for k in kernels],
            lambda: [tf.zeros([0], k.dtype) for k in kernels],
        )

    def _step_stats(self, track, kernel_grads, before, previous):
        """Norms of the applied (summed) kernel gradients and of the kernels' updates."""

        def compute():
            grads = [self.strategy.reduce("SUM", g, axis=None) for g in kernel_grads]
            unscale = 1.0
            if self.loss_scaled:
                unscale = 1.0 / tf.cast(self.optimizer.scale_loss(1.0), tf.float32)
            deltas = [k - b for k, b in zip(self._kernels(), before, strict=True)]
            return {
                "grad_l2_norm": stats.l2_norms(grads) * unscale,
                "update_l2_norm": stats.l2_norms(deltas),
            }

        return _when(track, compute, lambda: previous)

    def _history_row(self, train, val, acts, step_means):
        """One history row {column: scalar}. Penalties are those of the epoch's final weights
        (activity penalties: on the validation pass); extra columns come from the regularizers:
        their step values' means over the epoch (`step_means`), then their epoch values."""
        lr = tf.cast(self.optimizer.learning_rate, tf.float32)
        row = {f"train_{name}": train[name] for name in EVAL_METRICS}
        row.update({f"val_{name}": val[name] for name in EVAL_METRICS})
        penalties = self._penalties(acts)
        row.update(
            {f"penalty_{r.name}": p for r, p in zip(self._penalizers, penalties, strict=True)}
        )
        row.update(train_step_penalty=train["penalty"], learning_rate=lr)
        step_columns = [name for r in self._step_valued for name in r.step_columns]
        row.update(zip(step_columns, tf.unstack(step_means, num=len(step_columns)), strict=True))
        for reg in self.active:
            values = reg.epoch_values(self._context)
            row.update(zip(reg.epoch_columns, values, strict=True))
        return row

    def _zero_step_stats(self):
        if not self.track_every:
            return {}
        zeros = tf.zeros([len(self.model.kernel_layers())])
        return {"grad_l2_norm": zeros, "update_l2_norm": zeros}

    def checkpoint_items(self):
        """Everything an identical continuation needs. Dropout's SeedGenerator states are not
        tracked by tf.train.Checkpoint in Keras 3, so they are listed explicitly."""
        seed_states = framework_internals.seed_generator_states(self.model)
        items = {
            "model": self.model,
            "optimizer": self.optimizer,
            "epoch": self.epoch,
            "history": self.history,
            "seed_states": seed_states,
            **optim.checkpoint_items(self.optimizer),
        }
        if self.early_stopping:
            items.update(self.early_stopping.checkpoint_items())
        return items

    # ---- another run through the same compiled loop (training/reuse.py) ----------------------
    def state_variables(self):
        """Every variable the compiled loop reads or writes, in a fixed order: a run's whole
        state. Two trainers of the same structure list the same shapes in the same order."""
        extra = [v for k, v in self.checkpoint_items().items() if k not in ("model", "optimizer")]
        data = [self.x_train, self.y_train, self.x_val, self.y_val, self.seed]
        data += self.initial_kernels
        every = [*self.model.variables, *self.optimizer.variables, *tf.nest.flatten(extra), *data]
        return list({id(v): v for v in every}.values())  # each once, in order

    def can_continue_as(self, fresh):
        """Whether this trainer's compiled loop can train `fresh`'s run: same writers, and
        variables of the same shapes and dtypes."""
        mine, theirs = self.state_variables(), fresh.state_variables()
        return (
            self.writers is fresh.writers
            and self.columns == fresh.columns
            and len(mine) == len(theirs)
            and all(
                a.shape == b.shape and a.dtype == b.dtype for a, b in zip(mine, theirs, strict=True)
            )
        )

    def continue_as(self, fresh):
        """Takes over `fresh`'s run: its initial state (built exactly as a standalone run builds
        it) is assigned into this trainer's variables, which the compiled loop reads."""
        for mine, theirs in zip(self.state_variables(), fresh.state_variables(), strict=True):
            mine.assign(theirs)
        self.cfg = fresh.cfg  # equal but for flags the graph does not read (options.PER_RUN)
        self.evaluations = {}
        return self

    # ---- results ------------------------------------------------------------------------------
    def epoch_metrics(self, epoch_index):
        """Metrics of a finished epoch (0-based) from the history, as Python floats."""
        row = self.history[epoch_index].numpy()
        return {name: float(row[i]) for i, name in enumerate(self.columns)}


def _metrics(means, calibrate):
    """An evaluation's means by name; with `calibrate`, the calibration sums' means apart."""
    if not calibrate:
        return _named(means, EVAL_METRICS)
    with tf.name_scope("calibration"):
        head, calib = means[:3], means[3:]
    return {**_named(head, EVAL_METRICS), "calibration": calib}


def _named(vector, names):
    """{name: scalar} of a vector whose entries are `names`, in order."""
    return dict(zip(names, tf.unstack(vector), strict=True))


def _state(value, name):
    """A loop-state variable outside the strategy's variables (not trained, not mirrored)."""
    return tf.Variable(value, trainable=False, name=name)


# ---- cadence: Python booleans where the answer is the same every epoch ----------------------
def _due(step, every, total):
    """Whether epoch `step` (1-based) is on a cadence of `every` epochs (the last one always is)."""
    if every <= 1:
        return every == 1
    return tf.logical_or(tf.equal(step % every, 0), tf.equal(step, total))


def _and(a, b):
    if isinstance(a, bool):
        return b if a else False
    if isinstance(b, bool):
        return a if b else False
    return tf.logical_and(a, b)


def _when(pred, true_fn, false_fn=lambda: None):
    """tf.cond, decided while tracing when `pred` is a Python bool."""
    if isinstance(pred, bool):
        return true_fn() if pred else false_fn()
    return tf.cond(pred, true_fn, false_fn)
