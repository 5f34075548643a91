# tests/lib/bounded_jobs.sh — sourced by tests/run.sh and tests/fuzz/smoke.sh: run
# commands in the background, at most TEST_JOBS at once (default: one per CPU).
#
#   bounded_start CMD [ARG...]   start one, first waiting for a slot
#   bounded_wait                 wait for all still running
bounded_live=()

bounded_start() {
  "$@" &
  bounded_live+=($!)
  if [ ${#bounded_live[@]} -ge "${TEST_JOBS:-$(nproc)}" ]; then
    local done_pid
    wait -n -p done_pid "${bounded_live[@]}"
    mapfile -t bounded_live < <(printf '%s\n' "${bounded_live[@]}" | grep -vxF "$done_pid")
  fi
}

bounded_wait() {
  [ ${#bounded_live[@]} -eq 0 ] || wait "${bounded_live[@]}"
  bounded_live=()
}
