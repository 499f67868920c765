"""Writes a sweep's results: results.md, results.csv, runs.csv and figures, with statistics.

    python report.py --sweep_dir=sweeps_out/tutorial [--metric=test_accuracy] [--baseline=model1]

Writes <sweep_dir>/report/<metric>/ (or --out): results.md, results.csv, runs.csv and the figures,
replacing that folder's previous report whole, so every metric's report stands beside the others.
Per variant: mean, sample std and a 95% bootstrap CI of --metric over seeds. Against the
baseline (default: the first variant without regularization), seed by seed: the mean
difference with its CI, rliable's probability of improvement, and a Wilcoxon signed-rank test
Holm-adjusted over the variants (results.md says how each is computed).
"""

import os
import shutil
import tempfile

from absl import flags

import cli
from errors import UserError
from runs import rundir
from sweeps import manifest as sweep_manifest
from sweeps import markdown, plots, results
from sweeps import measures as measures_report

flags.DEFINE_string("sweep_dir", "sweeps_out/tutorial", "A directory written by sweep.py.")
flags.DEFINE_string(
    "metric",
    "test_accuracy",
    "A value of the runs' metrics.json 'final' (test_accuracy, test_data_loss, ...).",
)
flags.DEFINE_string(
    "baseline", "", "Variant the others are compared with; empty: the first unregularized one."
)
flags.DEFINE_enum(
    "better",
    "auto",
    ["auto", "higher", "lower"],
    "Which direction of --metric is an improvement; auto: lower for losses, MSE, gaps, ECE, "
    "Brier and penalties, higher otherwise.",
)
flags.DEFINE_string(
    "out", "", "Folder for this report; empty: <sweep_dir>/report/<metric>. Replaced whole."
)
FLAGS = flags.FLAGS
REPORT_FILE = "results.md"  # a folder holding it is a report that may be replaced


def out_dir_for(sweep_dir, metric, out=""):
    """The report's folder: --out, or <sweep_dir>/report/<metric>; refuses one that holds other
    files than a report, or the sweep itself."""
    path = out or os.path.join(sweep_dir, "report", metric)
    real, sweep = os.path.realpath(path), os.path.realpath(sweep_dir)
    if real == sweep or sweep.startswith(real + os.sep):
        raise UserError(
            f"--out={path} would replace the sweep itself; name a folder for the report"
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"--out={path} is a file; name a folder for the report")
    if (
        os.path.isdir(path)
        and os.listdir(path)
        and not os.path.isfile(os.path.join(path, REPORT_FILE))
    ):
        raise UserError(f"--out={path} holds files that are not a report; name another folder")
    return path


def _replace_dir(tmp, path):
    """Moves the finished report into place, dropping the previous one (no stale figure)."""
    if os.path.isdir(path):
        old = tempfile.mkdtemp(prefix=".old-", dir=os.path.dirname(os.path.abspath(path)))
        os.rename(path, os.path.join(old, "report"))
        os.rename(tmp, path)
        shutil.rmtree(old)
    else:
        os.rename(tmp, path)


def report(sweep_dir, metric="test_accuracy", baseline="", better="auto", out=""):
    if os.path.exists(sweep_dir) and not os.path.isdir(sweep_dir):
        raise UserError(f"--sweep_dir={sweep_dir} is a file, not a sweep's directory")
    if not os.path.isdir(sweep_dir):
        raise UserError(f"--sweep_dir={sweep_dir} does not exist; run sweep.py first")
    manifest = sweep_manifest.read(sweep_dir)
    variants, by_variant = results.load(sweep_dir, manifest)
    results.check_metric(by_variant, metric)
    baseline, why = results.choose_baseline(variants, baseline)
    path = out_dir_for(sweep_dir, metric, out)
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".report-", dir=parent)
    except OSError as e:
        raise UserError(f"cannot write the report into {path} ({e.strerror}); pass --out") from e
    try:
        text, pngs = _write(
            tmp, sweep_dir, manifest, variants, by_variant, metric, baseline, why, better
        )
        _replace_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(text, end="")
    print(f"wrote results.md, results.csv, runs.csv and {len(pngs)} figures to {path}")
    return 0


def _write(tmp, sweep_dir, manifest, variants, by_variant, metric, baseline, why, better):
    higher = results.higher_is_better(metric, better)
    n = results.count_examples(by_variant, metric)
    rows = results.summarize(variants, by_variant, metric, n)
    paired = results.compare(rows, baseline, higher, n)
    text = markdown.write(
        sweep_dir, manifest, variants, by_variant, rows, paired, metric, higher, baseline, why, n
    )
    figure = os.path.join(tmp, "reliability_test.png")
    if not measures_report.reliability_figure(variants, by_variant, figure):
        figure = None
    extra = measures_report.section(variants, by_variant, figure)
    if extra:
        text += "\n" + "\n".join(extra)
    rundir.write_text(os.path.join(tmp, "results.md"), text)
    rundir.write_text(os.path.join(tmp, "results.csv"), results.results_csv(rows, paired, baseline))
    rundir.write_text(
        os.path.join(tmp, "runs.csv"), results.runs_csv(variants, by_variant, metric, n)
    )
    grid_flags = results.grid_flags(manifest)
    pngs = plots.write_all(tmp, variants, by_variant, rows, paired, metric, baseline, grid_flags)
    return text, pngs + ([figure] if figure else [])


if __name__ == "__main__":
    cli.run(lambda: report(FLAGS.sweep_dir, FLAGS.metric, FLAGS.baseline, FLAGS.better, FLAGS.out))
