#!/usr/bin/env bash
# Usage: [GPUS=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
#
# Runs that outlive a time limit or a preemption: slurm sends SIGUSR1 SIGNAL_LEAD seconds (120)
# before the time limit, and SIGTERM on preemption; every rank stops at the next iteration with
# one complete checkpoint, and this script sees the stop (status 75, or the stop file the ranks
# write: srun's --kill-on-bad-exit may turn 75 into 137 / 143). The run then continues by itself:
# inside an sbatch job (`#SBATCH --requeue`) the job is requeued; where requeue is not possible
# (run from a login node, inside salloc, a job without --requeue) srun starts again here. At most
# MAX_REQUEUES (100) restarts, counted by slurm's SLURM_RESTART_COUNT in a requeued job.
#
# Every start resumes from WORK_DIR's newest complete checkpoint (train.py --resume), or, on an
# empty WORK_DIR, starts from the config's load_from. A `--resume PATH` / `--resume=PATH` given
# here applies to the job's first start, and to restarts until the run has written a checkpoint.
# PYTHON: the interpreter (default: python).
set -x

source "$(dirname "$0")/slurm_common.sh"
source "$(dirname "$0")/forward_signals.sh"
slurm_args "$1" "$2"
CONFIG=$3
WORK_DIR=$4
SIGNAL_LEAD=${SIGNAL_LEAD:-120}
MAX_REQUEUES=${MAX_REQUEUES:-100}
PYTHON=${PYTHON:-python}
PREEMPTED=75

# train.py's arguments without any --resume [PATH] / --resume=PATH (FIRST_RESUME keeps it)
ARGS=("${@:5}")
REST=()
FIRST_RESUME=(--resume)
for ((i = 0; i < ${#ARGS[@]}; i++)); do
  arg=${ARGS[$i]}
  case "$arg" in
    --resume=*) FIRST_RESUME=("$arg") ;;
    --resume)
      next=${ARGS[$((i + 1))]:-}
      if [ -n "$next" ] && [[ "$next" != -* ]]; then
        FIRST_RESUME=(--resume "$next")
        i=$((i + 1))
      fi ;;
    *) REST+=("$arg") ;;
  esac
done

# the ranks write "75 CHECKPOINT" here when they stop (on the shared file system)
export MMTNT_STOP_FILE="${WORK_DIR}/.stop_status"
restarts=${SLURM_RESTART_COUNT:-0}
first_start=1
if [ "$restarts" -gt 0 ]; then first_start=0; fi

while true; do
  mkdir -p "$WORK_DIR"
  rm -f "$MMTNT_STOP_FILE"
  # the explicit --resume PATH holds until the run has a checkpoint of its own
  RESUME=("${FIRST_RESUME[@]}")
  if [ "$first_start" -eq 0 ] && [ -e "${WORK_DIR}/last_checkpoint" ]; then RESUME=(--resume); fi
  first_start=0
  # a SIGTERM / SIGUSR1 to this batch shell alone (scancel --full, --signal=B:USR1) goes to srun,
  # which hands it to every task
  run_forwarding command srun "${SRUN[@]}" --signal=USR1@"${SIGNAL_LEAD}" \
      "$PYTHON" -u "$(dirname "$0")/train.py" "${CONFIG}" --work-dir="${WORK_DIR}" \
      --launcher="slurm" "${REST[@]}" "${RESUME[@]}"
  status=$STATUS
  if [ -s "$MMTNT_STOP_FILE" ]; then
    echo "[slurm_train] stopped with a checkpoint ($(cat "$MMTNT_STOP_FILE")); srun returned ${status}"
    status=$PREEMPTED
  fi
  if [ "$status" -ne "$PREEMPTED" ]; then
    exit "$status"
  fi
  if [ "$restarts" -ge "$MAX_REQUEUES" ]; then
    echo "[slurm_train] stopped ${restarts} times, MAX_REQUEUES=${MAX_REQUEUES}: not restarting;" \
         "continue with: tools/slurm_train.sh ... ${WORK_DIR} --resume"
    exit "$status"
  fi
  restarts=$((restarts + 1))
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    if scontrol requeue "${SLURM_JOB_ID}"; then  # slurm runs this script again
      exit "$status"
    fi
    echo "[slurm_train] 'scontrol requeue ${SLURM_JOB_ID}' failed (an salloc allocation, or a" \
         "job submitted without --requeue, cannot be requeued): starting srun again here"
  fi
  echo "[slurm_train] restart ${restarts} of at most ${MAX_REQUEUES}"
done
