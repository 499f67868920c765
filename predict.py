"""Predicts classes of new rows with a finished run's exported model.

    python predict.py --run_dir=runs_out/RUN --input=new.csv [--output=pred.csv]

--input: a CSV file with a header row. Its columns are matched by name to the run's inputs
(model/meta.json's input_columns: the dataset's feature names; for image runs pixel_0 ...
pixel_<h*w*c-1>, the image's values in row-major order); other columns (ids, labels) are
ignored. Values are raw, as in the training data: the run's preprocessing is applied here.
Writes a CSV (to stdout without --output): row (1-based), predicted class, then p_<class> for
every class (float32, printed to round-trip).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out

import csv  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

import cli  # noqa: E402
from errors import UserError  # noqa: E402

flags.DEFINE_string("run_dir", None, "A finished run's directory (it holds model/).")
flags.DEFINE_string("input", None, "CSV file of raw rows, with a header row.")
flags.DEFINE_string("output", "", "CSV file to write; empty: stdout.")
flags.mark_flags_as_required(["run_dir", "input"])
FLAGS = flags.FLAGS


def read_inputs(path, columns):
    """[n, len(columns)] float array of `columns` of the CSV file at `path`."""
    from data import csv_files

    header, rows = csv_files.read_table(path, flag="--input")
    missing = [c for c in columns if c not in header]
    if missing:
        shown = ", ".join(repr(c) for c in columns[:6]) + (", ..." if len(columns) > 6 else "")
        raise UserError(
            f"CSV file {path} has no column {missing[0]!r}; the run's model reads the "
            f"{len(columns)} columns {shown} (matched by name in the header)"
        )
    where = [(header.index(c), c) for c in columns]
    x, _ = csv_files.values(path, rows, where)
    if not x:
        raise UserError(f"CSV file {path} has a header but no data rows")
    return np.asarray(x, np.float64)


def predictions_csv(probabilities, class_names):
    """The output table: row, predicted, p_<class>..."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "predicted", *(f"p_{c}" for c in class_names)])
    for i, p in enumerate(probabilities, start=1):
        # str of a float32 is the shortest text that reads back as the same float32.
        writer.writerow([i, class_names[int(np.argmax(p))], *(str(np.float32(v)) for v in p)])
    return out.getvalue()


def predict(run_dir, input_path, output_path=""):
    from runs import load_run, rundir

    if output_path and not os.path.isdir(os.path.dirname(output_path) or "."):
        raise UserError(f"--output={output_path}: its directory does not exist")
    run = load_run(run_dir)
    x = read_inputs(input_path, run.meta["input_columns"])  # before TensorFlow loads: fast errors
    text = predictions_csv(run.predict(x), run.class_names)
    if output_path:
        rundir.write_text(output_path, text)
    else:
        sys.stdout.write(text)
    return 0


def main():
    return predict(FLAGS.run_dir, FLAGS.input, FLAGS.output)


if __name__ == "__main__":
    cli.run(main)
