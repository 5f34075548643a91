#!/usr/bin/env bash
# tests/fuzz/smoke.sh — the bounded fuzzing run `make test` does: every libFuzzer target
# replays its regressions and seeds, then fuzzes for TEST_FUZZ_SECONDS (default 10;
# 0 = replay only). Builds into build/fuzz-test so a long `make fuzz` can go on beside
# it. The targets run one per CPU at a time (TEST_JOBS). Each target counts as one
# test; one whose input file is absent (fuzz_clip
# without OpenAI's vocab in ../shared) is skipped, naming it. Ends with
# "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${TEST_FUZZ_SECONDS:-10}
log=${1:-/dev/null}
export FUZZ_OUT=build/fuzz-test
[ "$log" = /dev/null ] || : >"$log"
vocab=${INFICOND_CLIP_VOCAB:-../shared/clip/bpe_simple_vocab_16e6.txt.gz}

# What target $1 needs that is not here, or nothing.
missing() {
  case $1 in
    clip) [ -r "$vocab" ] || echo "needs $vocab (the shared fixtures beside the clone, absent here)" ;;
  esac
}

passed=0
failed=0
skipped=0
if ! bash tests/fuzz/run.sh --build >>"$log" 2>&1; then
  echo "-- fuzz: building the targets failed (see $log)"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
# One target: its replay, then its fuzzing; the result line to $res/$t.line, its log to
# $res/$t.log, and ok / failed / skipped to $res/$t.state.
res=$(mktemp -d)
trap 'rm -rf "$res"' EXIT
one() {
  local t=$1 why ok=1 line runs=
  why=$(missing "$t")
  if [ -n "$why" ]; then
    echo skipped >"$res/$t.state"; echo "-- fuzz $t: SKIPPED ($why)" >"$res/$t.line"
    return
  fi
  bash tests/fuzz/run.sh --regress "$t" >>"$res/$t.log" 2>&1 || ok=0
  if [ $ok -eq 1 ] && [ "$secs" -gt 0 ]; then
    line=$(bash tests/fuzz/run.sh "$secs" "$t" 2>&1 | tail -n 1)
    echo "$line" >>"$res/$t.log"
    grep -q 'nothing found' <<<"$line" || ok=0
    runs=$(awk '{print $2}' <<<"$line")
  fi
  if [ $ok -eq 1 ]; then
    echo ok >"$res/$t.state"; echo "-- fuzz $t: ok${runs:+ ($runs runs)}" >"$res/$t.line"
  else
    echo failed >"$res/$t.state"; echo "-- fuzz $t: FAILED (see $log)" >"$res/$t.line"
  fi
}

# The targets TEST_JOBS at a time (default: one per CPU): each fuzzes on one CPU for its
# seconds, as it would alone on an idle machine.
targets=$(ls tests/fuzz/fuzz_*.c | sed 's#.*/fuzz_\(.*\)\.c#\1#')
. tests/lib/bounded_jobs.sh
for t in $targets; do bounded_start one "$t"; done
bounded_wait
for t in $targets; do
  [ -f "$res/$t.log" ] && cat "$res/$t.log" >>"$log"
  cat "$res/$t.line" 2>/dev/null || echo "-- fuzz $t: FAILED (no result)"
  case $(cat "$res/$t.state" 2>/dev/null) in
    ok) passed=$((passed + 1)) ;;
    skipped) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
