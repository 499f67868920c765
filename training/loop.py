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

from inspection import stats
from inspection.summaries import write_histograms, write_scalars
from regularizers import penalty_terms

# Columns of the per-epoch history (a variable, so checkpoints carry it).
HISTORY = (
    "train_data_loss",
    "train_accuracy",
    "train_mse",
    "val_data_loss",
    "val_accuracy",
    "val_mse",
    "penalty_l1",
    "penalty_l2",
    "train_step_penalty",
    "learning_rate",
)
# Written under train/ and under val/, so that TensorBoard overlays the two.
SPLIT_TAGS = (
    "loss/data",
    "loss/penalty",
    "loss/penalty_l1",
    "loss/penalty_l2",
    "loss/total",
    "metrics/accuracy",
    "metrics/mse",
)
EVAL_BATCH = 4096  # evaluation and probe chunk size: bounds memory on large splits


class Trainer:
    """Owns the compiled loop of one run: its data on device, history and epoch variables."""

    def __init__(self, model, optimizer, strategy, dataset, cfg, writers=None):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.cfg = cfg
        self.writers = writers
        # Cadences in epochs (0: never). Every worker tracks the step statistics on the same
        # epochs (they involve collectives, which all workers must run alike); only the one with
        # writers (the chief) computes and writes the rest.
        on = cfg.log_every > 0
        chief = writers is not None
        self.track_every = cfg.stats_every if on else 0
        self.log_every = cfg.log_every if chief and on else 0
        self.stats_every = self.track_every if chief else 0
        self.hist_every = cfg.hist_every if chief and on else 0
        self.loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.x_train = tf.constant(dataset.train.x)
        self.y_train = tf.constant(dataset.train.y)
        self.x_val = tf.constant(dataset.test.x)
        self.y_val = tf.constant(dataset.test.y)
        self.n_train = len(dataset.train)
        self.batch_size = min(cfg.batch_size, self.n_train)
        self.num_batches = -(-self.n_train // self.batch_size)
        # Not strategy variables: plain host state, checkpointed with the model.
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.history = tf.Variable(
            tf.fill([cfg.epochs, len(HISTORY)], float("nan")), trainable=False, name="history"
        )
        self._step = (
            tf.function(self._replica_step, jit_compile=True) if cfg.xla else self._replica_step
        )
        self.run = tf.function(self._run_epochs)

    # Helpers without data-dependent control flow skip autograph: converting them (and the Keras
    # code they call) would cost seconds of tracing for nothing.
    # ---- one train step, in replica context -------------------------------------------------
    @tf.autograph.experimental.do_not_convert
    def _replica_step(self, idx):
        """One optimizer step on this replica's slice of batch `idx`: metric sums, and the
        kernels' local gradients for the step statistics (summed across replicas only on the
        tracked steps, in cross-replica code)."""
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync
        rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        global_batch = tf.shape(idx)[0]
        # Every replica sees the global batch's indices and takes its own contiguous slice.
        local = idx[global_batch * rid // replicas : global_batch * (rid + 1) // replicas]
        x = tf.gather(self.x_train, local)
        y = tf.gather(self.y_train, local)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(x, training=True), tf.float32)
            per_example = tf.nn.softmax_cross_entropy_with_logits(y, logits)
            data_loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            pen = penalty_terms(self.model, self.cfg.l1, self.cfg.l2)
            penalty = pen["l1"] + pen["l2"]
            # Gradients are summed over replicas, so each replica adds 1/replicas of the penalty.
            loss = data_loss + tf.nn.scale_regularization_loss(penalty)
            target = self.optimizer.scale_loss(loss) if self.loss_scaled else loss
        grads = tape.gradient(target, variables)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        hits = tf.equal(tf.argmax(logits, -1), tf.argmax(y, -1))
        out = {
            "sums": tf.stack(
                [  # summed over replicas and batches -> epoch means
                    tf.reduce_sum(per_example),
                    tf.reduce_sum(tf.cast(hits, tf.float32)),
                    tf.reduce_sum(tf.reduce_mean(tf.square(tf.nn.softmax(logits) - y), -1)),
                    penalty * tf.cast(tf.shape(local)[0], tf.float32),
                ]
            )
        }
        if self.track_every:
            by_id = {id(v): g for g, v in zip(grads, variables, strict=True)}
            out["kernel_grads"] = [by_id[id(k)] for k in self._kernels()]
        return out

    # ---- evaluation, in cross-replica context (every worker evaluates the same weights) ------
    @tf.autograph.experimental.do_not_convert
    def _eval_chunk(self, xb, yb, with_acts):
        """Sums of cross-entropy, hits and squared error over a chunk (+ activations)."""
        result = self.model(xb, training=False, return_activations=with_acts)
        logits, acts = result if with_acts else (result, None)
        logits = tf.cast(logits, tf.float32)
        ce = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(yb, logits))
        hit = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), tf.argmax(yb, -1)), tf.float32))
        sq = tf.reduce_sum(tf.reduce_mean(tf.square(tf.nn.softmax(logits) - yb), -1))
        return tf.stack([ce, hit, sq]), acts

    def _evaluate(self, x, y, probe=False):
        """(mean data loss, accuracy, MSE of probabilities vs one-hot), and probe activations."""
        chunk = self._eval_chunk
        n = int(x.shape[0])
        if n <= EVAL_BATCH:  # one pass gives the metrics and the probe activations
            sums, acts = chunk(x, y, probe)
        else:
            sums = tf.zeros([3])
            for start in tf.range(0, n, EVAL_BATCH):
                s, _ = chunk(x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH], False)
                sums += s
            acts = chunk(x[:EVAL_BATCH], y[:EVAL_BATCH], True)[1] if probe else None
        return sums / n, acts

    # ---- many epochs in one compiled call -----------------------------------------------------
    def _run_epochs(self, first, last):
        n, bs, nb = self.n_train, self.batch_size, self.num_batches
        total = self.cfg.epochs
        diverged = tf.constant(-1, tf.int64)
        for epoch in tf.range(first, last):
            step = epoch + 1
            seed = tf.stack([tf.cast(self.cfg.seed, tf.int64), epoch])
            order = tf.argsort(tf.random.stateless_uniform([n], seed=seed))
            sums = tf.zeros([4])
            last_step = self._zero_step_stats()
            tracked_epoch = _due(step, self.track_every, total)
            for b in tf.range(nb):
                idx = order[b * bs : tf.minimum((b + 1) * bs, n)]
                track = _and(tracked_epoch, True if nb == 1 else tf.equal(b, nb - 1))
                before = self._weights_before(track)
                out = self.strategy.run(self._step, args=(idx,))
                sums += self.strategy.reduce("SUM", out["sums"], axis=None)
                if self.track_every:
                    last_step = self._step_stats(track, out["kernel_grads"], before, last_step)
            # Train metrics as Keras fit reports them: means over the epoch's training batches
            # (training mode, Dropout active). Validation: a full pass in inference mode.
            train = sums / n
            val, acts = self._evaluate(
                self.x_val, self.y_val, probe=bool(self.stats_every or self.hist_every)
            )
            row = self._history_row(train, val)
            self.history.scatter_nd_update([[epoch]], [row])
            self.epoch.assign(epoch + 1)
            # Python booleans when the cadence is 1 or 0: no graph branch at all.
            if _due(step, self.log_every, total):
                self._write_epoch_scalars(step, row)
            if self.stats_every and tracked_epoch:  # the chief writes what all tracked
                self._write_layer_stats(step, last_step, acts)
            if _due(step, self.hist_every, total):
                self._write_histograms(step, acts)
            if not tf.reduce_all(tf.math.is_finite(row)):
                diverged = epoch
                break
        return diverged

    # ---- step statistics of the tracked step, in cross-replica code ------------------------------
    # Here rather than in the replica step: a collective cannot sit in a branch of replica code,
    # so summing the gradients there would cost an all-reduce on every step.
    def _kernels(self):
        return [layer.kernel for _, layer in self.model.kernel_layers()]

    @tf.autograph.experimental.do_not_convert
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

    @tf.autograph.experimental.do_not_convert
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

    @tf.autograph.experimental.do_not_convert
    def _history_row(self, train, val):
        pen = penalty_terms(self.model, self.cfg.l1, self.cfg.l2)
        lr = tf.cast(self.optimizer.learning_rate, tf.float32)
        return tf.concat([train[:3], val, tf.stack([pen["l1"], pen["l2"], train[3], lr])], 0)

    @tf.autograph.experimental.do_not_convert
    def _zero_step_stats(self):
        if not self.track_every:
            return {}
        zeros = tf.zeros([len(self.model.kernel_layers())])
        return {"grad_l2_norm": zeros, "update_l2_norm": zeros}

    @tf.autograph.experimental.do_not_convert
    def _write_epoch_scalars(self, step, row):
        """Losses and metrics under the same tags for train/ and val/; learning rate and gap."""
        r = dict(zip(HISTORY, tf.unstack(row), strict=True))  # one op, not one slice per value
        pen = r["penalty_l1"] + r["penalty_l2"]
        for writer, split in ((self.writers.train, "train"), (self.writers.val, "val")):
            data = r[f"{split}_data_loss"]
            values = [data, pen, r["penalty_l1"], r["penalty_l2"], data + pen]
            values += [r[f"{split}_accuracy"], r[f"{split}_mse"]]
            write_scalars(writer, SPLIT_TAGS, tf.stack(values), step)
        gap = r["val_data_loss"] - r["train_data_loss"]
        write_scalars(
            self.writers.root,
            ["optim/learning_rate", "metrics/generalization_gap"],
            tf.stack([r["learning_rate"], gap]),
            step,
        )

    @tf.autograph.experimental.do_not_convert
    def _write_layer_stats(self, step, last_step, acts):
        """Per-layer statistics of weights, the last step, activations and BatchNorm layers."""
        names = [n for n, _ in self.model.kernel_layers()]
        weights = stats.weight_stats_many(self._kernels(), self.cfg.sparsity_threshold)
        # The last step's update relative to the weights it produced (the epoch's weights).
        ratio = last_step["update_l2_norm"] / (weights["l2_norm"] + 1e-12)
        updates = {"grad_l2_norm": last_step["grad_l2_norm"], "update_ratio": ratio}
        groups = [
            ("weights", weights, names),
            ("weights", updates, names),
            ("activations", stats.activation_stats_many(list(acts.values())), list(acts)),
        ]
        for name, bn in self.model.batchnorm_layers():
            gap = stats.batchnorm_gap(acts[name], bn)
            groups.append(("batchnorm", {k: v[None] for k, v in gap.items()}, [name]))
        tags, values = [], []
        for prefix, by_stat, layer_names in groups:
            for key, vector in by_stat.items():
                tags += [f"{prefix}/{name}/{key}" for name in layer_names]
                values.append(vector)
        write_scalars(self.writers.root, tags, tf.concat(values, 0), step)

    @tf.autograph.experimental.do_not_convert
    def _write_histograms(self, step, acts):
        tags, tensors = [], []
        for name, layer in self.model.kernel_layers():
            tags += [f"weights/{name}/kernel", f"weights/{name}/bias"]
            tensors += [layer.kernel, layer.bias]
        for name, a in (acts or {}).items():
            tags.append(f"activations/{name}")
            tensors.append(a)
        write_histograms(self.writers.root, tags, *stats.histograms_many(tensors), step)

    # ---- results ------------------------------------------------------------------------------
    def epoch_metrics(self, epoch_index):
        """Metrics of a finished epoch (0-based) from the history, as Python floats."""
        row = self.history[epoch_index].numpy()
        return {name: float(row[i]) for i, name in enumerate(HISTORY)}


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


def _when(pred, true_fn, false_fn):
    """tf.cond, decided while tracing when `pred` is a Python bool."""
    if isinstance(pred, bool):
        return true_fn() if pred else false_fn()
    return tf.cond(pred, true_fn, false_fn)
