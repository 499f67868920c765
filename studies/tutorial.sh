#!/usr/bin/env bash
# Study 1: the tutorial's nine models, 20 seeds each, paired against model1 (no regularization).
# Writes sweeps_out/tutorial20 and copies the report into docs/study/tutorial/.
#   bash studies/tutorial.sh            (about 3 minutes on the 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-sweeps_out/tutorial20}
.venv/bin/python sweep.py --configs='configs/model*.cfg' --seeds=20 --out="$out" || true
.venv/bin/python report.py --sweep_dir="$out" --baseline=model1 --metric=test_accuracy
rm -rf docs/study/tutorial
cp -r "$out/report/test_accuracy" docs/study/tutorial
