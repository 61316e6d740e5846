#!/usr/bin/env bash
# Usage: [GPUS=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
#
# Runs that outlive a time limit or a preemption: slurm sends SIGUSR1 SIGNAL_LEAD seconds (120)
# before the time limit, and SIGTERM on preemption; every rank stops at the next iteration with
# one complete checkpoint and exits with status 75. The run then continues by itself: inside an
# sbatch allocation (`#SBATCH --requeue`) the job is requeued; run from a login node, srun is
# started again (at most MAX_REQUEUES times, 100). Each start resumes from WORK_DIR's newest
# complete checkpoint (train.py --resume; a fresh start when there is none); a `--resume PATH`
# given here applies to the first start only.
set -x

source "$(dirname "$0")/slurm_common.sh"
slurm_args "$1" "$2"
CONFIG=$3
WORK_DIR=$4
SIGNAL_LEAD=${SIGNAL_LEAD:-120}
MAX_REQUEUES=${MAX_REQUEUES:-100}
PREEMPTED=75
PY_ARGS=("${@:5}")
AUTO_ARGS=()  # PY_ARGS with any --resume [PATH] replaced by --resume: what restarts run
skip_path=0
for arg in "${PY_ARGS[@]}"; do
  if [ "$skip_path" -eq 1 ] && [[ "$arg" != -* ]]; then skip_path=0; continue; fi
  skip_path=0
  if [ "$arg" = "--resume" ]; then skip_path=1; continue; fi
  AUTO_ARGS+=("$arg")
done
AUTO_ARGS+=(--resume)
case " ${PY_ARGS[*]} " in
  *" --resume "*) ;;
  *) PY_ARGS=("${AUTO_ARGS[@]}") ;;
esac

for ((start = 0; start <= MAX_REQUEUES; start++)); do
  srun "${SRUN[@]}" --signal=USR1@"${SIGNAL_LEAD}" \
      python -u "$(dirname "$0")/train.py" "${CONFIG}" --work-dir="${WORK_DIR}" --launcher="slurm" \
      "${PY_ARGS[@]}"
  status=$?
  if [ "$status" -ne "$PREEMPTED" ]; then
    exit "$status"
  fi
  if [ -n "${SLURM_JOB_ID:-}" ]; then  # in a batch job: slurm runs the script again
    scontrol requeue "${SLURM_JOB_ID}"
    exit "$status"
  fi
  echo "[slurm_train] stopped with a checkpoint (status ${PREEMPTED}); starting again"
  PY_ARGS=("${AUTO_ARGS[@]}")
done
exit "$status"
