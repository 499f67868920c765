# Sourced by the study scripts: the knobs and the reporting they share.
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

# study_reports OUT DOCS BASELINE METRIC...: one report per metric of the sweep in OUT against
# BASELINE, each copied to DOCS/<metric> (DOCS empty: copied nowhere; one metric: to DOCS itself).
study_reports() {
  local out=$1 docs=$2 baseline=$3
  shift 3
  local metric
  for metric in "$@"; do
    .venv/bin/python report.py --sweep_dir="$out" --baseline="$baseline" --metric="$metric"
  done
  if [ -n "$docs" ]; then
    rm -rf "$docs"
    mkdir -p "$(dirname "$docs")"
    if [ $# = 1 ]; then
      cp -r "$out/report/$1" "$docs"
    else
      mkdir -p "$docs"
      for metric in "$@"; do
        cp -r "$out/report/$metric" "$docs/"
      done
    fi
  fi
}
