#!/usr/bin/env bash
# Study 2: where networks overfit. digits (8x8 images, 10 classes) with 150 training rows, the
# tutorial's MLP, Adam, early stopping on the validation split (patience 20); 10 seeds; each
# regularizer at a grid of strengths, 0 (= no regularization) included as its paired baseline.
# Writes sweeps_out/overfit/<regularizer> and copies each report into docs/study/overfit/.
#   bash studies/overfit.sh             (about 4 minutes on the 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-sweeps_out/overfit}
seeds=${SEEDS:-10}
sharpness=${SHARPNESS_SAMPLES:-5}  # noise draws per sharpness search step (0: no sharpness)
study() {  # name, then sweep.py arguments
  local name=$1
  shift
  .venv/bin/python sweep.py --seeds="$seeds" --out="$out/$name" \
    --train_flag=--sharpness_samples="$sharpness" "$@" || true
  # The paired statistics on accuracy, then on test ECE (its report in <name>/test_ece/); both
  # carry the calibration, generalization-measure and Kendall tau tables.
  .venv/bin/python report.py --sweep_dir="$out/$name" --metric=test_accuracy
  .venv/bin/python report.py --sweep_dir="$out/$name" --metric=test_ece
  rm -rf "docs/study/overfit/$name"
  mkdir -p docs/study/overfit
  cp -r "$out/$name/report/test_accuracy" "docs/study/overfit/$name"
  cp -r "$out/$name/report/test_ece" "docs/study/overfit/$name/test_ece"
}
study l1 --configs=configs/overfit/l1.cfg --grid=l1=0,1e-5,1e-4,1e-3
study l2 --configs=configs/overfit/l2.cfg --grid=l2=0,1e-4,1e-3,1e-2
study weight_decay --configs=configs/overfit/weight_decay.cfg --grid=weight_decay=0,0.01,0.1,1
study dropout --configs=configs/overfit/dropout.cfg --grid=dropout_rate=0,0.2,0.4,0.6
study label_smoothing --configs=configs/overfit/label_smoothing.cfg \
  --grid=label_smoothing=0,0.05,0.1,0.2
study batchnorm_mixup --configs=configs/overfit/none.cfg,configs/overfit/batchnorm.cfg,configs/overfit/mixup_0.2.cfg,configs/overfit/mixup_1.cfg
.venv/bin/python studies/overfit_paths.py
