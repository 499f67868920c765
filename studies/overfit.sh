#!/usr/bin/env bash
# Study 2: where networks overfit, and which regularizer helps. digits (8x8 images, 10 classes)
# with 150 training rows, the tutorial's MLP, Adam, early stopping on the validation split
# (patience 20); 10 seeds. ONE sweep: each regularizer at its own grid (grids bound to its
# config), all against one shared unregularized baseline (configs/overfit/none.cfg), so the
# report's Holm family is every comparison of the study. Reported on test accuracy and on test
# ECE, each with the calibration, generalization-measure and Kendall tau tables. The grids are
# small (24 variants, 240 runs); a regularizer's grid is one line of `grids` below, a config one
# entry of `configs`.
#   bash studies/overfit.sh
# Knobs: SEEDS (10), EPOCHS (the configs' 150), SHARPNESS_SAMPLES (3; 0: no sharpness),
# OUT (sweeps_out/overfit), DOCS (docs/study/overfit; empty: copy nothing), TINY=1 (2 seeds,
# 2 epochs, one grid point per regularizer, 1 sharpness sample: what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-sweeps_out/overfit}
docs=${DOCS-docs/study/overfit}
source studies/common.sh
study_knobs 10
sharpness=${SHARPNESS_SAMPLES:-3}  # noise draws per sharpness search step
c=configs/overfit
grids=(
  "l1.cfg:l1=1e-5,1e-4,1e-3"
  "l2.cfg:l2=1e-3,1e-2"
  "weight_decay.cfg:weight_decay=0.3,1,3"
  "dropout.cfg:dropout_rate=0.1,0.2,0.4"
  "label_smoothing.cfg:label_smoothing=0.05,0.1,0.2"
  "sam.cfg:sam_rho=0.02,0.05,0.1"
  "clipnorm.cfg:clipnorm=0.1,0.5,2"
)
if [ "${TINY:-0}" = 1 ]; then
  sharpness=${SHARPNESS_SAMPLES:-1}
  grids=("${grids[@]%%,*}")  # the first point of each grid
fi
configs=$c/none.cfg,$c/l1.cfg,$c/l2.cfg,$c/weight_decay.cfg,$c/dropout.cfg,$c/label_smoothing.cfg
configs+=,$c/batchnorm.cfg,$c/mixup_0.2.cfg,$c/sam.cfg,$c/spectral_norm.cfg
configs+=,$c/clipnorm.cfg
.venv/bin/python sweep.py --seeds="$seeds" --out="$out" --configs="$configs" \
  "${grids[@]/#/--grid=}" --train_flag=--sharpness_samples="$sharpness" \
  ${extra[@]+"${extra[@]}"} || true
study_reports "$out" "$docs" none test_accuracy test_ece
if [ -n "$docs" ]; then
  .venv/bin/python studies/overfit_paths.py "$docs"
fi
