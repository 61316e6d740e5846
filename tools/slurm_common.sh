# Sourced by tools/slurm_train.sh and tools/slurm_test.sh (mmdet's slurm conventions).
# slurm_args PARTITION JOB_NAME: the arguments both give srun, from GPUS (8), GPUS_PER_NODE (8),
# CPUS_PER_TASK (5) and SRUN_ARGS, into the array SRUN.
slurm_args() {
  GPUS=${GPUS:-8}
  GPUS_PER_NODE=${GPUS_PER_NODE:-8}
  CPUS_PER_TASK=${CPUS_PER_TASK:-5}
  SRUN=(-p "$1" --job-name="$2" --gres=gpu:"${GPUS_PER_NODE}" --ntasks="${GPUS}"
        --ntasks-per-node="${GPUS_PER_NODE}" --cpus-per-task="${CPUS_PER_TASK}"
        --kill-on-bad-exit=1 ${SRUN_ARGS:-})
  export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)":${PYTHONPATH:-}
}
