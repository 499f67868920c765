# Sourced by the study scripts: the knobs they share.
# study_knobs DEFAULT_SEEDS sets $seeds (SEEDS, else DEFAULT_SEEDS; 2 with TINY=1) and the array
# $extra: the --train_flag that sets --epochs (EPOCHS; 2 with TINY=1), or nothing (the configs').
study_knobs() {
  seeds=${SEEDS:-$1}
  local epochs=${EPOCHS:-}
  if [ "${TINY:-0}" = 1 ]; then
    seeds=${SEEDS:-2}
    epochs=${EPOCHS:-2}
  fi
  extra=()
  if [ -n "$epochs" ]; then
    extra+=(--train_flag=--epochs="$epochs")
  fi
}
