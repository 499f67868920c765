#!/usr/bin/env bash
# Study 1: the tutorial's nine models, 20 seeds each, paired against model1 (no regularization).
# Writes sweeps_out/tutorial20 and copies the report into docs/study/tutorial/.
#   bash studies/tutorial.sh            (about 5 minutes on the 2-core machine)
# Knobs: SEEDS (20), EPOCHS (the configs' own), OUT (sweeps_out/tutorial20), DOCS
# (docs/study/tutorial; empty: copy nothing), TINY=1 (2 seeds, 2 epochs: what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-sweeps_out/tutorial20}
docs=${DOCS-docs/study/tutorial}
source studies/common.sh
study_knobs 20
.venv/bin/python sweep.py --configs='configs/model*.cfg' --seeds="$seeds" --out="$out" \
  ${extra[@]+"${extra[@]}"} || true
study_reports "$out" "$docs" model1 test_accuracy
