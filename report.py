"""Writes a sweep's results: results.md, results.csv, runs.csv and figures, with statistics.

    python report.py --sweep_dir=sweeps_out/tutorial [--metric=test_accuracy] [--baseline=model1]

Per variant: mean, sample std and a 95% bootstrap CI of --metric over seeds. Against the
baseline (default: the first variant without regularization), seed by seed: the mean
difference with its CI, rliable's probability of improvement, and a Wilcoxon signed-rank test
Holm-adjusted over the variants (results.md says how each is computed).
"""

import os

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
FLAGS = flags.FLAGS


def report(out_dir, metric="test_accuracy", baseline="", better="auto"):
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(f"--sweep_dir={out_dir} is a file, not a sweep's directory")
    if not os.path.isdir(out_dir):
        raise UserError(f"--sweep_dir={out_dir} does not exist; run sweep.py first")
    manifest = sweep_manifest.read(out_dir)
    variants, by_variant = results.load(out_dir, manifest)
    results.check_metric(by_variant, metric)
    baseline, why = results.choose_baseline(variants, baseline)
    if not os.access(out_dir, os.W_OK):
        raise UserError(f"cannot write into {out_dir}; check its permissions")
    higher = results.higher_is_better(metric, better)
    rows = results.summarize(variants, by_variant, metric)
    paired = results.compare(rows, baseline, higher)
    text = markdown.write(
        out_dir, manifest, variants, by_variant, rows, paired, metric, higher, baseline, why
    )
    figure = os.path.join(out_dir, "reliability_test.png")
    if not measures_report.reliability_figure(variants, by_variant, figure):
        figure = None
    extra = measures_report.section(variants, by_variant, figure)
    if extra:
        text += "\n" + "\n".join(extra)
    rundir.write_text(os.path.join(out_dir, "results.md"), text)
    rundir.write_text(
        os.path.join(out_dir, "results.csv"), results.results_csv(rows, paired, baseline)
    )
    rundir.write_text(
        os.path.join(out_dir, "runs.csv"), results.runs_csv(variants, by_variant, metric)
    )
    grid_flags = list(manifest["protocol"].get("grid") or {})
    pngs = plots.write_all(out_dir, variants, by_variant, rows, metric, baseline, grid_flags)
    print(text, end="")
    pngs += [figure] if figure else []
    print(f"wrote results.md, results.csv, runs.csv and {len(pngs)} figures to {out_dir}")
    return 0


if __name__ == "__main__":
    cli.run(lambda: report(FLAGS.sweep_dir, FLAGS.metric, FLAGS.baseline, FLAGS.better))
