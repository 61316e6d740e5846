# Sourced by tools/dist_train.sh and tools/slurm_train.sh.
#
# run_forwarding TARGET COMMAND...: run COMMAND, passing on SIGTERM / SIGUSR1 that reach this
# script alone (a container's PID 1, `kill PID`, slurm's --signal=B:USR1); STATUS gets its exit
# status. TARGET is `command` (srun hands the signal on to its tasks) or `children` (torchrun's
# workers: torchrun itself takes a second SIGTERM as a hard stop, and when the whole process
# group is signalled it has one already). A signal to the whole group reaches everyone anyway.
run_forwarding() {
  local target=$1
  shift
  ( trap - INT QUIT; exec "$@" ) &  # background jobs would start with SIGINT ignored
  local child=$!
  # shellcheck disable=SC2064  # the child's pid is fixed now
  if [ "$target" = children ]; then
    trap "pkill -TERM -P $child" TERM
    trap "pkill -USR1 -P $child" USR1
  else
    trap "kill -TERM $child 2>/dev/null" TERM
    trap "kill -USR1 $child 2>/dev/null" USR1
  fi
  while wait "$child"; STATUS=$?; [ "$STATUS" -gt 128 ] && kill -0 "$child" 2>/dev/null; do
    :  # a trapped signal interrupted the wait: wait on
  done
  wait "$child" 2>/dev/null
  local last=$?
  if [ "$last" -ne 127 ]; then STATUS=$last; fi
  trap - TERM USR1
}
