"""Writes a sweep's results: results.csv, results.md, and the tutorial's plots over seeds.

python report.py --sweep_dir=sweeps_out/tutorial
"""

import os

from absl import flags

import cli
from errors import UserError
from runs import rundir
from sweeps import plan as sweep_plan
from sweeps import plots, results

flags.DEFINE_string("sweep_dir", "sweeps_out/tutorial", "A directory written by sweep.py.")
FLAGS = flags.FLAGS


def report(out_dir):
    if not os.path.isdir(out_dir):
        raise UserError(f"--sweep_dir={out_dir} does not exist; run sweep.py first")
    by_variant = results.load_runs(out_dir, sweep_plan.read_manifest(out_dir))
    if not os.access(out_dir, os.W_OK):
        raise UserError(f"cannot write into {out_dir}; check its permissions")
    rows = results.summarize(by_variant)
    rundir.write_text(os.path.join(out_dir, "results.csv"), results.to_csv(rows))
    table = results.to_markdown(rows)
    rundir.write_text(os.path.join(out_dir, "results.md"), table)
    pngs = plots.write_all(out_dir, by_variant, rows)
    print(table, end="")
    print(f"wrote results.csv, results.md and {len(pngs)} plots to {out_dir}")
    return 0


if __name__ == "__main__":
    cli.run(lambda: report(FLAGS.sweep_dir))
