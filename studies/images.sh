#!/usr/bin/env bash
# Study 3: regularizers for images. digits as 8x8 images with 200 training rows, the small CNN
# (--model=cnn), Adam, early stopping on the validation split (patience 20); 10 seeds. One sweep:
# the unregularized CNN (configs/images/none.cfg) against augmentation, cutout, CutMix, SAM,
# spectral normalization, Dropout and weight decay, one strength each; one Holm family.
# Reported on test accuracy and on test ECE.
#   bash studies/images.sh              (about 10 minutes on the 2-core machine)
# Knobs: SEEDS (10), EPOCHS (the configs' 150), OUT (sweeps_out/images), DOCS
# (docs/study/images; empty: copy nothing), TINY=1 (2 seeds, 2 epochs: what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-sweeps_out/images}
docs=${DOCS-docs/study/images}
source studies/common.sh
study_knobs 10
.venv/bin/python sweep.py --seeds="$seeds" --out="$out" --configs='configs/images/*.cfg' \
  ${extra[@]+"${extra[@]}"} || true
study_reports "$out" "$docs" none test_accuracy test_ece
