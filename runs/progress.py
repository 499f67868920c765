"""Progress output: a bar on an interactive terminal, plain timestamped lines in batch jobs."""

import sys
import time

from absl import logging


class Progress:
    def __init__(self, total_epochs, mode="auto", stream=sys.stderr):
        self.total = total_epochs
        self.stream = stream
        self.bar = mode == "bar" or (mode == "auto" and stream.isatty())
        self.start = time.time()

    def update(self, epoch, metrics):
        text = (
            f"epoch {epoch}/{self.total}  train loss {metrics['train_data_loss']:.4f} "
            f"acc {metrics['train_accuracy']:.3f}  val loss {metrics['val_data_loss']:.4f} "
            f"acc {metrics['val_accuracy']:.3f}  ({time.time() - self.start:.1f}s)"
        )
        if self.bar:
            done = int(30 * epoch / self.total)
            self.stream.write(f"\r[{'=' * done}{' ' * (30 - done)}] {text}")
            self.stream.flush()
        else:
            logging.info(text)

    def close(self):
        if self.bar:
            self.stream.write("\n")
            self.stream.flush()
