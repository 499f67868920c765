# Sourced by the sbatch scripts: where the code and its venv are, and requeue on preemption.
# Submit from the repository root (or set REPO); set PYTHON to use another interpreter.
set -uo pipefail
REPO="${REPO:-${SLURM_SUBMIT_DIR:-$PWD}}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
cd "$REPO" || exit 1
export PYTHONUNBUFFERED=1
echo "$(date -Is) job ${SLURM_JOB_ID:-?} on $(hostname): ${SLURM_JOB_NUM_NODES:-1} node(s), ${SLURM_NTASKS:-1} task(s)"

# train.py (and a sweep's array task) exits 75 after saving a checkpoint on SIGTERM/SIGUSR1 (SLURM
# preemption or --signal before the time limit). Requeue the job: the same command then resumes
# from that checkpoint. $2 names what exited (default train.py).
finish() {
  local code=$1 what="${2:-train.py}"
  local job="${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}"
  job="${job:-${SLURM_JOB_ID:-}}"
  # Said first: requeueing may end this script at once.
  echo "$(date -Is) $what exited with $code"
  if [ "$code" -eq 75 ] && [ -n "$job" ]; then
    echo "$(date -Is) preempted: requeueing $job to resume from its checkpoint"
    scontrol requeue "$job"
  fi
  exit "$code"
}
