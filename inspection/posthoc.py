"""Calibration and generalization measures of a run's final weights, computed once after
training on the chief (docs/measures.md): what metrics.json adds to the test split's numbers."""

import functools
import os

import numpy as np
import threadpoolctl  # comes with scikit-learn

from inspection import calibration, measures

INITIAL = "initial_kernels.npz"  # the kernels at initialization, for distance from init


def save_initial(run_dir, model):
    """Keeps the kernels a new run starts from (a resumed run reads them back)."""
    from runs import rundir

    path = os.path.join(run_dir, INITIAL)
    tmp = os.path.join(run_dir, ".tmp-" + INITIAL)
    try:
        np.savez(tmp, **{n: layer.kernel.numpy() for n, layer in model.kernel_layers()})
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise rundir.write_error(path, e, run_dir=run_dir) from e


def load_initial(run_dir):
    """{name: float64 kernel} kept by save_initial, or None (a run started before they were)."""
    path = os.path.join(run_dir, INITIAL)
    if not os.path.exists(path):
        return None
    with np.load(path) as f:
        return {n: f[n].astype(np.float64) for n in f.files}


def results(model, dataset, cfg, run_dir, *, sharpness=True):
    """(entries for metrics.json's 'final', {'reliability': ..., 'measures': ...})."""
    # Small matrices: one BLAS thread is fastest, and several thrash on a busy machine
    # (a 256x256 eigvalsh: 10 ms on one thread, 40x that on two with the cores shared).
    with _blas().limit(limits=1, user_api="blas"):
        return _results(model, dataset, cfg, run_dir, sharpness)


@functools.cache
def _blas():
    """The process's BLAS libraries, found once (a search of the loaded libraries: ~3 ms)."""
    return threadpoolctl.ThreadpoolController()


def _results(model, dataset, cfg, run_dir, sharpness):
    val_logits = measures.logits_of(model, dataset.val.x)
    # The tutorial's protocol validates on the test split: the same logits.
    test_logits = (
        val_logits if dataset.validates_on_test else measures.logits_of(model, dataset.test.x)
    )
    final, reliability = calibration.report(
        val_logits,
        _labels(dataset.val),
        test_logits,
        _labels(dataset.test),
        cfg.ece_bins,
    )
    found = measures.measure(model, dataset.train, load_initial(run_dir), cfg, sharpness=sharpness)
    return final, {"reliability": reliability, "measures": found}


def _labels(split):
    return np.asarray(split.y).argmax(-1)
