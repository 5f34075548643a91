#!/usr/bin/env bash
# bench/http.sh — HTTP throughput of the server with wrk (-t2 -c50):
# GET /api/v1/health (public) and GET /api/v1/me (authenticated read).
# Needs a running server: BASE (http://127.0.0.1:8080) and TOKEN.
# Prints a table, then one JSON line: {"bench":"http", routes: {...}}.
set -euo pipefail
base=${BASE:-http://127.0.0.1:8080}
token=${TOKEN:?TOKEN must be an API token}
secs=${DURATION:-10}

run() { # name path [header]
  local name=$1 path=$2 hdr=${3:-}
  local out
  if [ -n "$hdr" ]; then out=$(wrk -t2 -c50 -d"${secs}s" --latency -H "$hdr" "$base$path")
  else out=$(wrk -t2 -c50 -d"${secs}s" --latency "$base$path"); fi
  local rps p99 non2xx errs
  rps=$(awk '/Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out"); non2xx=${non2xx:-0}
  errs=$(awk '/Socket errors:/ {s=0; for(i=3;i<=NF;i+=2) s+=$(i+1); print s}' <<<"$out" | tr -d ','); errs=${errs:-0}
  printf '%-28s %12s req/s   p99 %8s   non-2xx %s   socket errors %s\n' "$name" "$rps" "$p99" "$non2xx" "$errs" >&2
  echo "\"$name\":{\"req_per_s\":$rps,\"p99\":\"$p99\",\"non_2xx\":$non2xx,\"socket_errors\":$errs}"
}

a=$(run "GET /api/v1/health" /api/v1/health)
b=$(run "GET /api/v1/me (bearer)" /api/v1/me "Authorization: Bearer $token")
c=$(run "GET /api/v1/jobs?limit=20" "/api/v1/jobs?limit=20" "Authorization: Bearer $token")
echo "{\"bench\":\"http\",\"tool\":\"wrk -t2 -c50 -d${secs}s\",\"routes\":{$a,$b,$c}}"
