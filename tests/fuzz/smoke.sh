#!/usr/bin/env bash
# tests/fuzz/smoke.sh — the bounded fuzzing run `make test` does: every libFuzzer target
# replays its regressions and seeds, then fuzzes for TEST_FUZZ_SECONDS (default 10;
# 0 = replay only). Builds into build/fuzz-test so a long `make fuzz` can go on beside
# it. Each target counts as one test; one whose input file is absent (fuzz_clip
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
for t in $(ls tests/fuzz/fuzz_*.c | sed 's#.*/fuzz_\(.*\)\.c#\1#'); do
  why=$(missing "$t")
  if [ -n "$why" ]; then
    skipped=$((skipped + 1)); echo "-- fuzz $t: SKIPPED ($why)"
    continue
  fi
  ok=1
  bash tests/fuzz/run.sh --regress "$t" >>"$log" 2>&1 || ok=0
  if [ $ok -eq 1 ] && [ "$secs" -gt 0 ]; then
    line=$(bash tests/fuzz/run.sh "$secs" "$t" 2>&1 | tail -n 1)
    echo "$line" >>"$log"
    grep -q 'nothing found' <<<"$line" || ok=0
    runs=$(awk '{print $2}' <<<"$line")
  fi
  if [ $ok -eq 1 ]; then
    passed=$((passed + 1)); echo "-- fuzz $t: ok${runs:+ ($runs runs)}"
  else
    failed=$((failed + 1)); echo "-- fuzz $t: FAILED (see $log)"
  fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
