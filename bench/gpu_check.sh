#!/usr/bin/env bash
# The GPU path end to end, in one short script (run it on a GPU node; about 5 minutes):
#   bash bench/gpu_check.sh [OUT_DIR]
# one GPU, all GPUs mirrored, bf16 and fp16, XLA, every regularizer at once, a resume after
# SIGTERM, then the throughput and registry benchmarks. Prints one line per check and exits
# non-zero at the first failure. Record its figures in BUILD.md ("GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu_check}
rm -rf "$out" && mkdir -p "$out"
py=${PYTHON:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$py -c "import tensorflow as tf; g = tf.config.list_physical_devices('GPU'); print('TF sees', len(g), 'GPU(s)'); assert g"
all=$($py -c "import regularizers; print(','.join(regularizers.REGISTRY))" 2>/dev/null)
check() {  # name, train.py flags...
  local name=$1
  shift
  local start=$SECONDS
  $py train.py --logdir="$out" --run_name="$name" --progress=lines "$@" >"$out/$name.log" 2>&1
  echo "ok   $name ($((SECONDS - start)) s): $(grep -m1 'devices:' "$out/$name.log" | sed 's/.*devices: //')"
}
check one_gpu --device=gpu --gpus=1 --reg=l1 --all_layers
check mirrored --device=gpu --reg=l2,dropout,batchnorm --all_layers --batch_size=32
check bf16 --device=gpu --mixed_precision=bf16 --reg=l2 --epochs=100
check fp16 --device=gpu --mixed_precision=fp16 --reg=dropout --epochs=100
check xla --device=gpu --xla --reg=l2,batchnorm --epochs=100
check all_regs --device=gpu --reg="$all" --all_layers --hidden=64,32 --epochs=50
check cnn --device=gpu --dataset=digits --model=cnn --reg=batchnorm,dropout --all_layers --epochs=20
# Preemption on the GPU: SIGTERM after the first checkpoint, then the same command resumes.
$py train.py --device=gpu --logdir="$out" --run_name=resume --epochs=3000 --checkpoint_every=100 \
  --log_every=0 --progress=lines >"$out/resume.log" 2>&1 &
pid=$!
until [ -e "$out/resume/checkpoints/ckpt-100.index" ]; do sleep 0.2; done
kill -TERM $pid && wait $pid || [ $? -eq 75 ]
check resume --device=gpu --epochs=3000 --checkpoint_every=100 --log_every=0
grep -q "resuming" "$out/resume.log" && echo "ok   resume: resumed after SIGTERM"
$py bench/throughput.py
$py bench/registry_overhead.py --repeats=3
