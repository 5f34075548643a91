#!/usr/bin/env bash
# bench/load_read.sh — read routes under load while an extraction runs: wrk, 50
# connections (-t2 -c50) for 30 s, rotating over a list of paths (bench/load_read.lua):
# a student's versions and head (measures), concept rankings (influence) per class,
# concept galleries, an image's presence, disagreements and image thumbnails. During
# the whole run a concepts.extract job runs through the same server; when it finishes
# another starts (a fresh registration of the concept model, so no segment chunk is
# reused and the image encoder really runs).
#
# Needs a running server (BASE, default http://127.0.0.1:8080; TOKEN, an admin token;
# the server must read the demo folder, so run it on this machine) and a demo world
# folder DEMO (default var/bench/extract-demo; built with `inficond demo --scale small`
# when missing). Builds its world through the API: the scenes imported as a dataset, the
# demo concept model, its corpus, one extraction, a teacher output from a predictions
# file (the labels, 80% kept) and a distilled student.
#
# Errors: any answer outside 2xx/3xx (counted by the Lua script), wrk's socket errors
# (connect, read, write, and timeouts: no answer within TIMEOUT, default 10 s) and
# extraction jobs that fail. Galleries take their segment chunks from the segment cache
# (server/segment_cache.c: read and verified once per server process).
# Prints a summary, then one JSON line last; exits 1 when there was any error.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${BASE:-http://127.0.0.1:8080}
token=${TOKEN:?TOKEN must be an admin API token}
secs=${DURATION:-30}
conns=${CONNECTIONS:-50}
wait_s=${TIMEOUT:-10} # wrk's per-request timeout (its default, 2 s, counts a slow answer as an error)
demo=${DEMO:-${BENCH_EXTRACT_DEMO:-var/bench/extract-demo}}
bin=${INFICOND:-build/inficond}
command -v wrk >/dev/null || { echo "load_read: wrk missing (apt-get install wrk)" >&2; exit 1; }
if [ ! -f "$demo/concepts/manifest.json" ]; then
  echo "load_read: building the small demo world in $demo" >&2
  "$bin" demo --scale small --out "$demo" >/dev/null
fi
demo=$(cd "$demo" && pwd)
tag=load$(date +%s)$$
work=$(mktemp -d /tmp/inficond-load.XXXXXX)
bg=
cleanup() {
  # The loop and the subshells it is waiting in (by parent id).
  [ -z "$bg" ] || { pkill -P "$bg" 2>/dev/null; kill "$bg" 2>/dev/null; wait "$bg" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

api() { # METHOD PATH [JSON] -> body on stdout; fails on non-2xx with the body on stderr
  local m=$1 p=$2 body=${3:-} f code
  f=$(mktemp "$work/out.XXXXXX") # its own file: the extraction loop calls this too
  local args=(-sS -o "$f" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $token")
  [ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
  code=$(curl "${args[@]}" "$base$p")
  if [ "${code:0:1}" != 2 ]; then echo "load_read: $m $p -> $code $(cat "$f")" >&2; rm -f "$f"; return 1; fi
  cat "$f"
  rm -f "$f"
}
job_wait() { # JOB_ID -> final state on stdout (long-polls)
  local seq=0 j state
  while :; do
    j=$(api GET "/api/v1/jobs/$1?wait=20&after=$seq") || return 1 # errexit does not reach $(...)
    state=$(jq -r .state <<<"$j")
    case $state in succeeded|failed|cancelled) echo "$state"; return 0 ;; esac
    seq=$(jq -r .seq <<<"$j")
  done
}
need_ok() { # JOB_ID WHAT
  local s
  s=$(job_wait "$1") || exit 1
  [ "$s" = succeeded ] || { echo "load_read: $2 job $1 $s: $(api GET "/api/v1/jobs/$1")" >&2; exit 1; }
}
register_concepts() { # NAME -> model id
  api POST /api/v1/models "$(jq -nc --arg n "$1" --arg p "$demo/concepts" '{name: $n, path: $p}')" | jq -r .id
}

echo "== world: import $demo/scenes, concept model, corpus, extraction, teacher output, student" >&2
t0=$(date +%s)
ds=$(api POST /api/v1/datasets "$(jq -nc --arg n "$tag" '{name: $n}')" | jq -r .id)
imp=$(api POST "/api/v1/datasets/$ds/imports" "$(jq -nc --arg p "$demo/scenes" '{source: "folder", path: $p}')" | jq -r .id)
need_ok "$imp" import
model=$(register_concepts "$tag-concepts")
corpus=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: text/plain' \
  --data-binary @"$demo/corpus.txt" "$base/api/v1/corpora/import?name=$tag" | jq -r .id)
x=$(api POST /api/v1/extractions "$(jq -nc --argjson d "$ds" --argjson m "$model" --argjson c "$corpus" \
  '{dataset_id: $d, concept_model_id: $m, corpus_id: $c}')")
need_ok "$(jq -r .id <<<"$x")" extraction
xid=$(jq -r .extraction_id <<<"$x")
# Predictions from the labels (every fifth image given to the next class), as logits.
total=$(api GET "/api/v1/datasets/$ds/images?limit=1" | jq .total)
for off in $(seq 0 1000 $((total - 1))); do api GET "/api/v1/datasets/$ds/images?limit=1000&offset=$off"; done |
  jq -s '{items: map(.items[])}' >"$work/images.json"
classes=$(api GET "/api/v1/datasets/$ds" | jq -c .classes)
jq -r --argjson cl "$classes" '
  ($cl | length) as $c
  | "key," + ($cl | join(",")),
    (.items | to_entries[] | .key as $k | .value as $im
     | (if $k % 5 == 0 then ($im.label + 1) % $c else $im.label end) as $t
     | ([$im.id] + [range(0; $c) | if . == $t then 3 else 0 end]) | map(tostring) | join(","))' \
  "$work/images.json" >"$work/predictions.csv"
teacher=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' \
  --data-binary @"$work/predictions.csv" "$base/api/v1/datasets/$ds/predictions?name=$tag" | jq -r .id)
st=$(api POST /api/v1/students "$(jq -nc --argjson x "$xid" --argjson t "$teacher" --arg n "$tag" \
  '{extraction_id: $x, teacher_output_id: $t, name: $n}')" | jq -r .id)
need_ok "$st" distillation
student=$(api GET "/api/v1/jobs/$st" | jq -r .result.student_id)
echo "   built in $(( $(date +%s) - t0 )) s: dataset $ds ($(jq '.items | length' "$work/images.json") images), extraction $xid, student $student" >&2

# The paths: measures, rankings, galleries, presence, disagreements, thumbnails.
words=$(api GET "/api/v1/extractions/$xid" | jq -r '.words[]')
{
  echo "/api/v1/students/$student"
  echo "/api/v1/students/$student/versions/1"
  echo "/api/v1/students/$student/versions?limit=20"
  echo "/api/v1/students/$student/versions/1/disagreements?split=test&limit=20"
  jq -r '.[]' <<<"$classes" | while read -r c; do echo "/api/v1/students/$student/versions/1/classes/$c/influence"; done
  head -n 12 <<<"$words" | while read -r w; do echo "/api/v1/extractions/$xid/concepts/$(jq -rn --arg w "$w" '$w|@uri')/gallery?limit=24"; done
  jq -r '.items[:10][] | .id' "$work/images.json" | while read -r i; do echo "/api/v1/extractions/$xid/images/$i/presence"; done
  jq -r '.items[:120][] | .id' "$work/images.json" | while read -r i; do echo "/api/v1/images/$i/thumb"; done
} >"$work/paths"
npaths=$(wc -l <"$work/paths")

# The extraction that runs throughout, restarted whenever it finishes.
extract_loop() {
  local n=0 j s
  while [ ! -f "$work/stop" ]; do
    n=$((n + 1))
    local m
    m=$(register_concepts "$tag-concepts-run$n") || return 1
    j=$(api POST /api/v1/extractions "$(jq -nc --argjson d "$ds" --argjson m "$m" --argjson c "$corpus" \
      '{dataset_id: $d, concept_model_id: $m, corpus_id: $c}')" | jq -r .id) || return 1
    echo "$j" >>"$work/extract_jobs"
    s=$(job_wait "$j") || return 1
    echo "$j $s" >>"$work/extract_done"
  done
}
: >"$work/extract_jobs"
: >"$work/extract_done"
extract_loop 2>"$work/extract.err" &
bg=$!
# Let the first extraction get going before the clock starts.
for _ in $(seq 1 50); do
  j=$(head -n 1 "$work/extract_jobs")
  [ -n "$j" ] && [ "$(api GET "/api/v1/jobs/$j" | jq -r .state)" = running ] && break
  sleep 0.2
done

echo "== wrk -t2 -c$conns -d${secs}s --timeout ${wait_s}s over $npaths paths while extractions run" >&2
out=$(wrk -t2 -c"$conns" -d"${secs}s" --timeout "${wait_s}s" --latency -H "Authorization: Bearer $token" \
  -s bench/load_read.lua "$base" -- "$work/paths")
running_at_end=$(tail -n 1 "$work/extract_jobs")
touch "$work/stop"
# The extraction in flight when the clock stopped must still finish well.
wait "$bg" || true
bg=
line=$(grep '^load: requests=' <<<"$out")
val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" ${line#load: }"; }
requests=$(val requests) duration=$(val duration_us) badst=$(val bad_status)
sock=$(( $(val connect) + $(val read) + $(val write) + $(val timeout) ))
p50=$(val p50_us) p99=$(val p99_us) pmax=$(val max_us)
rps=$(awk -v r="$requests" -v d="$duration" 'BEGIN { printf "%.1f", r / (d / 1e6) }')
started=$(wc -l <"$work/extract_jobs")
succeeded=$(awk '$2 == "succeeded"' "$work/extract_done" | wc -l)
failed=$(awk '$2 != "succeeded"' "$work/extract_done" | wc -l)
last_state=$(awk -v j="$running_at_end" '$1 == j {print $2}' "$work/extract_done")
grep '^load: first' <<<"$out" >&2 || true
[ ! -s "$work/extract.err" ] || sed 's/^/  extraction loop: /' "$work/extract.err" >&2
printf '%-34s %s\n' "requests" "$requests in $(awk -v d="$duration" 'BEGIN {printf "%.1f", d / 1e6}') s" \
  "req/s" "$rps" "latency p50 / p99 / max (ms)" "$(awk -v a="$p50" -v b="$p99" -v c="$pmax" 'BEGIN {printf "%.1f / %.1f / %.1f", a/1e3, b/1e3, c/1e3}')" \
  "errors (non-2xx/3xx, socket)" "$badst, $sock" \
  "extractions started / ok / failed" "$started / $succeeded / $failed (the one running at the end: ${last_state:-unknown})" >&2
echo "{\"bench\":\"load_read\",\"tool\":\"wrk -t2 -c$conns -d${secs}s --timeout ${wait_s}s\",\"paths\":$npaths,\"requests\":$requests,\"req_per_s\":$rps,\"p50_ms\":$(awk -v a="$p50" 'BEGIN {printf "%.2f", a/1e3}'),\"p99_ms\":$(awk -v a="$p99" 'BEGIN {printf "%.2f", a/1e3}'),\"max_ms\":$(awk -v a="$pmax" 'BEGIN {printf "%.2f", a/1e3}'),\"errors\":$((badst + sock)),\"non_2xx_3xx\":$badst,\"socket_errors\":$sock,\"extractions_started\":$started,\"extractions_succeeded\":$succeeded,\"extractions_failed\":$failed,\"extraction_running_at_end\":\"${last_state:-unknown}\"}"
[ $((badst + sock + failed)) -eq 0 ] && [ "${last_state:-}" = succeeded ]
