#!/usr/bin/env bash
# Usage: [GPUS=8] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
set -x
source "$(dirname "$0")/slurm_common.sh"
slurm_args "$1" "$2"
srun "${SRUN[@]}" "${PYTHON:-python}" -u "$(dirname "$0")/test.py" "$3" "$4" --launcher="slurm" "${@:5}"
