#!/usr/bin/env bash
# bench/summary.sh — one JSON file from the benchmarks `make bench` ran (bench/run.sh).
#
#   bash bench/summary.sh LOGDIR OUT
#
# LOGDIR/steps lists the steps in the order they ran, one per line, tab-separated:
# NAME, EXIT (a number, or "skipped"), SECONDS, and for a skipped step the reason.
# LOGDIR/NAME.log is a step's whole output; its last line is the bench's JSON figures.
# OUT gets:
#   {"generated_at", "commit", "host", "cpus", "ok", "failed": [names],
#    "benches": [{"name", "exit", "seconds", "result" (the last line's object, or null),
#                 "skipped" (the reason; only for skipped steps)}]}
# ok is true when every step that ran exited 0 with a JSON object as its last line.
# Exits 0 when ok, else 1 (OUT is written either way).
set -euo pipefail
logs=${1:?usage: summary.sh LOGDIR OUT}
out=${2:?usage: summary.sh LOGDIR OUT}
command -v jq >/dev/null || { echo "bench summary: jq is missing" >&2; exit 2; }

entries=()
while IFS=$'\t' read -r name code secs reason; do
  [ -n "$name" ] || continue
  if [ "$code" = skipped ]; then
    entries+=("$(jq -nc --arg n "$name" --arg r "${reason:-}" '{name: $n, exit: null, seconds: 0, result: null, skipped: $r}')")
    continue
  fi
  # The last line, when it is a JSON object; anything else (a crash, a table) is null.
  result=$(tail -n 1 "$logs/$name.log" 2>/dev/null | jq -c 'if type == "object" then . else null end' 2>/dev/null || true)
  entries+=("$(jq -nc --arg n "$name" --argjson c "$code" --argjson s "${secs:-0}" --argjson r "${result:-null}" \
    '{name: $n, exit: $c, seconds: $s, result: $r}')")
done <"$logs/steps"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
printf '%s\n' "${entries[@]}" | jq -s \
  --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$commit" --arg host "$(hostname)" --argjson cpus "$(nproc)" '
  (map(select(.skipped == null and (.exit != 0 or .result == null))) | map(.name)) as $failed
  | {generated_at: $at, commit: $commit, host: $host, cpus: $cpus, ok: ($failed | length == 0),
     failed: $failed, benches: .}' >"$out"
jq -e .ok "$out" >/dev/null
