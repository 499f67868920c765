"""TensorBoard writers of a run: train/ and val/ (same tags, overlaid), the run root, HParams."""

import dataclasses
import os
import time

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

import framework_internals
import options

# The final metrics listed as HParams columns (written to the run root at the end).
HPARAM_METRICS = (
    "final/val_accuracy",
    "final/test_accuracy",
    "final/test_data_loss",
    "final/test_mse",
    "final/test_ece",
    "final/train_accuracy",
    "final/generalization_gap",
)


_QUEUE = dict(max_queue=100_000, flush_millis=10_000)


@dataclasses.dataclass
class Writers:
    train: tf.summary.SummaryWriter
    val: tf.summary.SummaryWriter
    root: tf.summary.SummaryWriter

    @classmethod
    def create(cls, run_dir):
        """The writers of `run_dir`: the last closed ones of this process reopened there, so that
        a compiled loop that captured them writes the next run's events (training/reuse.py)."""
        if _closed:
            writers = _closed.pop()
            for writer, sub in writers._subdirs():
                _reopen(writer, os.path.join(run_dir, sub))
            return writers

        # The queue settings batch the eager writes. In the compiled loop each write's
        # as_default() block ends in a flush op anyway (a write(2) per event, ~0.01 ms per
        # epoch measured), so a live TensorBoard sees each epoch as soon as it ends.
        def make(sub):
            return tf.summary.create_file_writer(os.path.join(run_dir, sub), **_QUEUE)

        return cls(train=make("train"), val=make("val"), root=make(""))

    def _subdirs(self):
        return ((self.train, "train"), (self.val, "val"), (self.root, ""))

    def flush(self):
        for w, _ in self._subdirs():
            w.flush()

    def close(self):
        for w, _ in self._subdirs():
            w.close()
        _closed[:] = [self]  # one set kept for reuse: the newest, which a cached loop holds


_closed = []  # closed Writers of this process, reopened by the next create()


def _reopen(writer, logdir):
    """Points a closed file writer at `logdir` under the same resource handle: graphs that
    captured the handle write there. (TF's API has no such call: closing deletes the resource,
    and creating it again under the same handle is what create_file_writer's init op does.)"""
    framework_internals.reopen_file_writer(writer, logdir, **_QUEUE)


def _encode_summary(tags, field, encoded):
    """A serialized Summary with one Value per tag, carrying `encoded` in Value.`field`."""
    n = len(tags)
    value_protos = tf.io.encode_proto(
        sizes=np.ones([n, 2], np.int32),
        values=[np.array(tags, object)[:, None], tf.reshape(encoded, [n, 1])],
        field_names=["tag", field],
        message_type="tensorflow.Summary.Value",
    )
    return tf.io.encode_proto(
        sizes=np.array([[n]], np.int32),
        values=[tf.reshape(value_protos, [1, n])],
        field_names=["value"],
        message_type="tensorflow.Summary",
    )


def write_scalars(writer, tags, values, step):
    """Writes scalars (a list of tags, a vector of values) as one event.

    Inside the compiled loop this is a handful of ops however many tags there are; one
    tf.summary.scalar per tag would add ~10 ops each, and seconds of tracing for ~100 tags.
    TensorBoard reads these `simple_value`s as ordinary scalars.
    """
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(
            _encode_summary(tags, "simple_value", tf.cast(values, tf.float32)),
            step=tf.cast(step, tf.int64),
        )


def write_histograms(writer, tags, stats, limits, counts, step):
    """Writes histograms (from inspection.stats.histograms_many) as one event.

    tf.summary.histogram builds several tf.conds per call: ~17 of them inside the compiled loop
    cost seconds of tracing and graph optimization. These are TensorBoard's HistogramProto
    ("histo") values, which its histogram plugin reads like its own.
    """
    n, bins = len(tags), int(limits.shape[1])
    histos = tf.io.encode_proto(
        sizes=np.tile([[1, 1, 1, 1, 1, bins, bins]], [n, 1]).astype(np.int32),
        values=tf.split(stats, 5, axis=1) + [limits, counts],
        field_names=["min", "max", "num", "sum", "sum_squares", "bucket_limit", "bucket"],
        message_type="tensorflow.HistogramProto",
    )
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(
            _encode_summary(tags, "histo", histos), step=tf.cast(step, tf.int64)
        )


def _hparam_value(value):
    """A list flag's value as HParams shows it: one element as itself (a number sorts and plots
    as a number: `--dropout_rate=0.3`), several as their comma list."""
    if isinstance(value, list | tuple):
        return value[0] if len(value) == 1 else ",".join(str(v) for v in value)
    return value


def hparam_names(idle):
    """The HParams of a run: the flags whose records say hparam=True (the regularizers'
    strengths too), less the flags `idle` in it (options.idle_flags: --activity_l1 without that
    regularizer, ...)."""
    return [n for n in options.hparam_names() if n not in idle]


def write_run_info(writers, cfg, trial_id=None):
    """HParams (session start; the trial named `trial_id`, the run's name) and the full
    configuration as a text table, at step 0. The session holds every trained flag that does
    something in the run (a sweep's view picks its columns among them, sweeps/tensorboard.py);
    the run's own columns, shown first, are hparam_names and the flags it sets away from their
    defaults."""
    idle = options.idle_flags(cfg.values)
    trained = [k for k in cfg.trained_identity() if k not in idle]
    names = hparam_names(idle)
    names += [k for k in trained if k not in names and cfg.values[k] != cfg.defaults.get(k)]
    values = {k: _hparam_value(cfg.values[k]) for k in dict.fromkeys(names + trained)}
    rows = "\n".join(f"| {k} | {_hparam_value(v)} |" for k, v in sorted(cfg.values.items()))
    with writers.root.as_default():
        if cfg.hparams_experiment:
            # TensorBoard shows one experiment per logdir, whichever run wrote it: every run
            # lists the same columns (every trained flag), its own marked to come first.
            every = list(dict.fromkeys([*options.hparam_names(), *cfg.trained_identity()]))
            tf.summary.experimental.write_raw_pb(_experiment_pb(every, names), step=0)
        hp.hparams(values, trial_id=trial_id)
        tf.summary.text("config", "| flag | value |\n|---|---|\n" + rows, step=0)
    writers.root.flush()


def write_experiment(logdir, hparams, first):
    """The HParams experiment of a logdir that holds several runs (a sweep's TensorBoard view):
    its columns are `hparams` and the final metrics. TensorBoard reads it from the logdir's top
    directory, sorts the columns by name after those marked as differing, and shows the first
    five: the names in `first` (the flags that vary, the seed) are marked so."""
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(_experiment_pb(hparams, first), step=0)
    writer.close()


def _experiment_pb(hparams, first):
    """A serialized HParams experiment of the columns `hparams` and the final metrics, the
    names in `first` marked as differing (TensorBoard shows those first)."""
    from tensorboard.plugins.hparams import plugin_data_pb2, summary_v2

    pb = summary_v2.hparams_config_pb(
        [hp.HParam(k) for k in hparams], [hp.Metric(m) for m in HPARAM_METRICS]
    )
    content = pb.value[0].metadata.plugin_data
    data = plugin_data_pb2.HParamsPluginData.FromString(content.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in first
    content.content = data.SerializeToString()
    return pb.SerializeToString()


def write_final(writers, final, step):
    """The end of the HParams session: the final metrics under the tags HParams lists as its
    columns and the status STATUS_SUCCESS, or, with `final` None (a diverged run),
    STATUS_FAILURE and no metrics."""
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hparams_summary

    status = api_pb2.STATUS_FAILURE if final is None else api_pb2.STATUS_SUCCESS
    with writers.root.as_default():
        for tag in HPARAM_METRICS:
            key = tag.split("/", 1)[1]
            if final and key in final:  # absent when no calibration was computed
                tf.summary.scalar(tag, final[key], step=step)
        end = hparams_summary.session_end_pb(status, end_time_secs=time.time())
        tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=step)
    writers.flush()
