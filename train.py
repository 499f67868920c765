"""Trains one regularization variant with our own compiled loop.

    python train.py --reg=l1 --all_layers
    python train.py --flagfile=configs/model8.cfg --seed=3

Flags in, exit code out: the flags are the records options.py assembles (data/flags.py,
models/flags.py, ...), and training/run.py's train(cfg) does the work. Exit codes are in
runs/exit_codes.py (BUILD.md explains them).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out of logs

from cluster.preemption import exit_quietly_outside_training  # noqa: E402

exit_quietly_outside_training("train.py")  # Ctrl-C during the imports: one line, no traceback

from cluster.tf_runtime import never_plots  # noqa: E402

never_plots()  # so Keras loads without matplotlib (~0.4 s a process)

import sys  # noqa: E402

import cli  # noqa: E402

if __name__ == "__main__" and cli.asks_for_help(sys.argv):  # without importing TensorFlow
    import help_cache

    cli.run(None, help_text=help_cache.train_help)  # prints the help and exits 0

from absl import flags  # noqa: E402

import options  # noqa: E402
from training.run import train  # noqa: E402

options.define_flags()
flags.adopt_module_key_flags(options)  # so that --helpfull lists them
FLAGS = flags.FLAGS


def main():
    return train(options.config_from_flags())


if __name__ == "__main__":
    cli.run(main)
