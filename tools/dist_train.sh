#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT as in mmdet. Without GPUs it trains on CPU (gloo).
# PYTHON: the interpreter to run (default: python).
#
# A run stopped by SIGTERM or SIGUSR1 (to this script's process group, as schedulers send it, to
# this script, or to torchrun: each is passed on to the workers) checkpoints at the next iteration and this script exits with
# status 75, whatever torchrun returns (it reports a worker's 75 as its own failure): a job
# script that runs `tools/dist_train.sh CONFIG N --resume` again on 75 continues the run.
# torchrun waits SHUTDOWN_TIMEOUT seconds (120) for its workers to save before it kills them.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-120}
PYTHON=${PYTHON:-python}
PREEMPTED=75

source "$(dirname "$0")/forward_signals.sh"
# every rank writes its stop status here (mmtnt.engine.PreemptionHook)
MMTNT_STOP_FILE=$(mktemp "${TMPDIR:-/tmp}/mmtnt_stop.XXXXXX")
export MMTNT_STOP_FILE
trap 'rm -f "$MMTNT_STOP_FILE"' EXIT

export PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH
run_forwarding children "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    --signals-to-handle=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1 \
    --shutdown-timeout="$SHUTDOWN_TIMEOUT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
status=$STATUS
if [ -s "$MMTNT_STOP_FILE" ]; then
  echo "[dist_train] stopped with a checkpoint ($(cat "$MMTNT_STOP_FILE")); torchrun returned" \
       "${status}; exiting with ${PREEMPTED}: run again with --resume to continue"
  exit "$PREEMPTED"
fi
exit "$status"
