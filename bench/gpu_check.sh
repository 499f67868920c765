#!/usr/bin/env bash
# The GPU path end to end, in one short script (run it on a GPU node; a few minutes):
#   bash bench/gpu_check.sh [OUT_DIR]
# one GPU, all GPUs mirrored, bf16 and fp16, XLA, every regularizer at once, the CNN, a resume
# after SIGTERM, then the tutorial run and the throughput benchmark on the GPU against the CPU.
# Prints one line per check and exits non-zero at the first failure; KEEP_GOING=1 runs every
# check and exits non-zero at the end if any failed (for a scarce GPU lease). PYTHON picks the
# interpreter (default .venv/bin/python). Record its figures in BUILD.md ("The GPU check").
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu_check}
# OUT_DIR is emptied first: only a new directory, or one an earlier check made (it has the mark).
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -e "$out/.gpu_check" ]; then
  echo "gpu_check.sh: error: $out exists and is not an earlier check's output; pass a new directory" >&2
  exit 2
fi
rm -rf "$out" && mkdir -p "$out" && touch "$out/.gpu_check"
py=${PYTHON:-.venv/bin/python}
failed=0
fail() {  # name, what
  echo "FAIL $1: $2"
  failed=1
  [ "${KEEP_GOING:-0}" = 1 ] || exit 1
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null ||
  fail nvidia-smi "no NVIDIA driver answers here (nvidia-smi is missing or failed): run on a GPU node"
$py -c "import tensorflow as tf; g = tf.config.list_physical_devices('GPU'); print('TF', tf.__version__, 'sees', len(g), 'GPU(s)'); assert g" ||
  fail tensorflow "TensorFlow sees no GPU"
# Every registered regularizer: the tabular ones on the MLP, the image-only ones on the CNN.
regs() {  # image_only: True or False
  $py -c "import regularizers as r; print(','.join(n for n, c in r.REGISTRY.items() if c.image_only == $1))" 2>/dev/null
}
all=$(regs False)
images=$(regs True)
check() {  # name, train.py flags...
  local name=$1
  shift
  local start=$SECONDS
  if $py train.py --logdir="$out" --run_name="$name" --progress=lines "$@" >"$out/$name.log" 2>&1; then
    echo "ok   $name ($((SECONDS - start)) s): $(grep -m1 'devices:' "$out/$name.log" | sed 's/.*devices: //')" \
      "| $(grep -m1 '^Accuracy is' "$out/$name.log")"
  else
    fail "$name" "exit $? after $((SECONDS - start)) s: $(grep -v '^\s*$' "$out/$name.log" | tail -1)"
  fi
}
check one_gpu --device=gpu --gpus=1 --reg=l1 --all_layers
check mirrored --device=gpu --reg=l2,dropout,batchnorm --all_layers --batch_size=32
check bf16 --device=gpu --mixed_precision=bf16 --reg=l2 --epochs=100
check fp16 --device=gpu --mixed_precision=fp16 --reg=dropout --epochs=100
check xla --device=gpu --xla --reg=l2,batchnorm --epochs=100
check all_regs --device=gpu --reg="$all" --all_layers --hidden=64,32 --epochs=50
check cnn --device=gpu --dataset=digits --model=cnn --reg=batchnorm,dropout --all_layers --epochs=20
check image_regs --device=gpu --dataset=digits --model=cnn --reg="$images" --epochs=20
# Preemption on the GPU: SIGTERM after the first checkpoint, then the same command resumes.
$py train.py --device=gpu --logdir="$out" --run_name=resume --epochs=3000 --checkpoint_every=100 \
  --log_every=0 --progress=lines >"$out/resume.log" 2>&1 &
pid=$!
until [ -e "$out/resume/checkpoints/ckpt-100.index" ] || ! kill -0 $pid 2>/dev/null; do sleep 0.2; done
kill -TERM $pid 2>/dev/null
wait $pid
code=$?
[ $code -eq 75 ] || fail resume_sigterm "exit $code, not 75: $(tail -1 "$out/resume.log")"
check resume --device=gpu --epochs=3000 --checkpoint_every=100 --log_every=0
grep -q "resuming" "$out/resume.log" && echo "ok   resume: resumed after SIGTERM" ||
  fail resume "the second run did not resume"
# The tutorial run (model1, 350 epochs), start to exit, on the GPU and on the CPU.
for device in gpu cpu; do
  check "tutorial_$device" --device=$device --flagfile=configs/model1.cfg
  grep -h -o '"train_time_s": [0-9.]*' "$out/tutorial_$device/metrics.json" | sed "s/^/     $device /"
done
$py bench/throughput.py --device=gpu || fail throughput_gpu "bench/throughput.py --device=gpu"
$py bench/throughput.py --device=cpu || fail throughput_cpu "bench/throughput.py --device=cpu"
exit $failed
