"""Checkpoints holding everything an identical continuation needs.

Model and optimizer (with its iteration count), the epoch counter, the metric history, and the
Dropout layers' SeedGenerator states, which tf.train.Checkpoint does not track by itself in
Keras 3. Input order needs no state: it is a function of (seed, epoch).

Faults: restore_latest() falls back from a checkpoint that cannot be restored (truncated,
missing file, bad checksum) to the newest one that can; save() turns a failed write (disk full)
into one WriteError naming the last good checkpoint, after removing what the failed save left.
"""

import contextlib
import glob
import os
import re
import shutil
import tempfile

import tensorflow as tf
from absl import logging

from errors import CheckpointsUnreadable, reason_of
from runs import rundir

_NUMBER = re.compile(r"ckpt-(\d+)$")


class _DropSaverChatter:
    """TF logs "Sharding callback duration" at INFO on every save; batch logs don't need it."""

    def filter(self, record):
        return not str(record.msg).startswith("Sharding callback duration")


logging.get_absl_logger().addFilter(_DropSaverChatter())


class Checkpoints:
    def __init__(self, run_dir, trackables, epoch, *, keep, is_chief):
        """`trackables`: name -> what a checkpoint holds; `epoch`: the epoch counter variable."""
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.run_dir = run_dir
        self.directory = os.path.join(run_dir, rundir.CHECKPOINT_DIR)
        self.is_chief = is_chief
        # Non-chief workers of a multi-worker run save too (they must), but into a scratch dir.
        self._scratch = None if is_chief else tempfile.TemporaryDirectory(prefix="ckpt-worker-")
        self.target = self.directory if is_chief else self._scratch.name
        if is_chief:
            # What a save killed midway (SIGKILL, a full disk) left; the run directory is ours.
            _remove_save_leftovers(self.directory)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.target, max_to_keep=keep, step_counter=epoch
        )
        self.epoch = epoch

    def latest(self):
        return tf.train.latest_checkpoint(self.directory)

    def candidates(self):
        """Checkpoint paths of the run directory, newest (highest epoch) first: those the state
        file lists (even if their files are gone) and any complete-looking one it misses (its
        save was cut off between writing the files and recording them)."""
        paths = {}
        state = tf.train.get_checkpoint_state(self.directory)
        listed = list(state.all_model_checkpoint_paths) if state else []
        if state and state.model_checkpoint_path:
            listed.append(state.model_checkpoint_path)
        for path in listed:
            if not os.path.isabs(path):
                path = os.path.join(self.directory, path)
            m = _NUMBER.search(path)
            if m:
                paths[int(m.group(1))] = path
        for number in rundir.checkpoint_epochs(self.run_dir):
            paths.setdefault(number, os.path.join(self.directory, f"ckpt-{number}"))
        return [paths[n] for n in sorted(paths, reverse=True)]

    def restore_latest(self):
        """Restores the newest checkpoint that restores; returns its epoch, or None when there
        is no checkpoint at all. Raises CheckpointsUnreadable when none restores.

        A checkpoint that fails is named in a warning and the next older one is tried. TF reads
        every tensor of a checkpoint before assigning any (checked: a truncated or corrupted file
        leaves every variable as it was), and a restore that succeeds here has matched every
        existing object (assert_existing_objects_matched), so it overwrites every variable a
        failed attempt could have touched: the state is never a mix of two checkpoints.
        """
        candidates = self.candidates()
        if not candidates:
            return None
        failures = []
        for i, path in enumerate(candidates):
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except Exception as e:  # noqa: BLE001 - whatever breaks a restore, try an older one
                failures.append((path, reason_of(e)))
                logging.warning(
                    "checkpoint %s cannot be restored (%s)%s",
                    path,
                    reason_of(e),
                    "; trying an older one" if i + 1 < len(candidates) else "",
                )
                continue
            epoch = int(self.epoch.numpy())
            if failures:
                logging.warning(
                    "restored %s (epoch %d), the newest checkpoint that restores; the broken "
                    "newer ones will be overwritten as training passes their epochs again",
                    path,
                    epoch,
                )
            return epoch
        newest, why = failures[0]
        raise CheckpointsUnreadable(
            f"no checkpoint in {self.directory} can be restored (the newest, "
            f"{os.path.basename(newest)}: {why}); move the run directory {self.run_dir} away, "
            "or pass another --run_name to start a new run"
        )

    def save(self):
        """Saves a checkpoint of the current epoch. A failed save (disk full, I/O error) removes
        what it left and raises WriteError naming the last good checkpoint."""
        number = int(self.epoch.numpy())
        before = _identity(self.target, number)
        try:
            return self.manager.save(checkpoint_number=number)
        except (tf.errors.OpError, OSError) as e:
            _remove_failed_save(self.target, number, before)
            raise rundir.write_error(
                f"the checkpoint of epoch {number} ({os.path.join(self.target, f'ckpt-{number}')})",
                e,
                run_dir=self.run_dir,
                failed_epoch=number,
            ) from e


def _files_of(directory, number):
    return glob.glob(os.path.join(glob.escape(directory), f"ckpt-{number}.*"))


def _identity(directory, number):
    """(name, inode, size, mtime) of checkpoint `number`'s files: tells whether a save touched
    them."""
    out = set()
    for path in _files_of(directory, number):
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.add((path, st.st_ino, st.st_size, st.st_mtime_ns))
    return out


def _remove_failed_save(directory, number, before):
    """Removes the temporary files of a failed save and the files of checkpoint `number` that it
    wrote (not those of an older save with that number that it did not touch)."""
    shutil.rmtree(os.path.join(directory, f"ckpt-{number}_temp"), ignore_errors=True)
    if _identity(directory, number) != before:
        for path in _files_of(directory, number):
            _unlink(path)
    for path in glob.glob(os.path.join(glob.escape(directory), "checkpoint.tmp*")):
        _unlink(path)


def _remove_save_leftovers(directory):
    """Removes temporary files of saves that never finished (TF's `ckpt-N_temp` directories and
    state-file temporaries)."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if re.fullmatch(r"ckpt-\d+_temp", name) and os.path.isdir(path):
            logging.info("removing %s, left by a save that did not finish", path)
            shutil.rmtree(path, ignore_errors=True)
        elif name.startswith("checkpoint.tmp"):
            _unlink(path)


def _unlink(path):
    with contextlib.suppress(OSError):
        os.unlink(path)
