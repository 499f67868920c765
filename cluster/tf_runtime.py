"""Starts TensorFlow without its C++ start-up chatter, so batch-job logs stay readable.

TF's C++ code prints lines such as "oneDNN custom operations are on" and, on CPU nodes with CUDA
libraries installed, "failed call to cuInit" before its log level applies. We capture file
descriptor 2 while TF loads and initializes devices, and pass on every other line.
"""

import contextlib
import os
import re
import sys
import tempfile

import framework_internals

_CHATTER = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|cuda_platform\.cc|cudart_stub\.cc|"
    r"cpu_feature_guard|rebuild TensorFlow with|Could not find cuda drivers|TF-TRT|"
    r"This TensorFlow binary is optimized|Unable to register cu(DNN|FFT|BLAS)|"
    r"computation_placer|cuda_(dnn|fft|blas)\.cc|Sharding callback duration"
)


_saved_fd = None


def original_stderr_fd():
    """The real stderr's fd while quiet_startup is active, else None."""
    return _saved_fd


@contextlib.contextmanager
def quiet_startup():
    global _saved_fd
    sys.stderr.flush()
    saved = _saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            _saved_fd = None
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not _CHATTER.search(line):
                    print(line, file=sys.stderr)


def import_tensorflow():
    """Imports TensorFlow and Keras (once) with their start-up chatter filtered; returns TF."""
    if "keras" not in sys.modules:
        with quiet_startup(), _without_matplotlib():
            import keras  # noqa: F401
            import tensorflow as tf

            # Finding the GPUs (cuInit) logs from C++ a moment later: do it while we capture.
            # Listing physical devices leaves them configurable (cluster/devices.py).
            tf.config.list_physical_devices("GPU")
    return sys.modules["tensorflow"]


_never_plots = False


def never_plots():
    """Declares that this process never plots (train.py, sweep.py and its workers): Keras then
    loads without matplotlib. A notebook or report.py, which may use Keras's plotting helpers,
    does not call this and gets Keras as usual."""
    global _never_plots
    _never_plots = True


@contextlib.contextmanager
def _without_matplotlib():
    """Keras imports matplotlib.pyplot at start (~0.4 s of the ~4.5 s import, measured) for its
    image-plotting helpers, and leaves them unset when that import fails. In a process that
    never plots, matplotlib looks absent while Keras loads; it is importable again right after."""
    if not _never_plots:
        yield
        return
    with framework_internals.hidden_module("matplotlib"):
        yield
