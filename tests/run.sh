#!/usr/bin/env bash
# tests/run.sh — what `make test` runs after building (ASan/UBSan build in build/asan):
#   1. unit tests: every build/asan/tests/test_* (cmocka)
#   2. API tests:  node --test tests/api/*.test.mjs against real servers and a fresh
#                  database on the private PostgreSQL (or TEST_DATABASE_URL's server)
#   3. UI tests:   node --test tests/ui/*.test.mjs (playwright-core + Debian chromium)
#   4. fuzzing:    tests/fuzz/smoke.sh: every libFuzzer target replays its regressions
#                  and seeds, then fuzzes TEST_FUZZ_SECONDS (default 10); `make fuzz`
#                  is the long run
# and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
supp="$(pwd)/tests/lsan.supp"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
artifacts="$(pwd)/test-artifacts"
mkdir -p "$artifacts"

passed=0
failed=0
failures=()

echo "== unit tests (ASan/UBSan)"
for t in build/asan/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  out=$("$t" 2>&1)
  rc=$?
  p=$(grep -Eo '\[  PASSED  \] [0-9]+' <<<"$out" | grep -Eo '[0-9]+$' | tail -n1)
  f=$(grep -Eo '\[  FAILED  \] [0-9]+' <<<"$out" | grep -Eo '[0-9]+$' | tail -n1)
  p=${p:-0}; f=${f:-0}
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer report
  passed=$((passed + p)); failed=$((failed + f))
  if [ $rc -ne 0 ]; then
    failures+=("$name")
    echo "$out" | tail -n 40
    echo "-- $name: FAILED ($p passed, $f failed)"
  else
    echo "-- $name: $p passed"
  fi
done

# A database for the API and UI tests: a fresh one each run.
pg_started=0
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  export INFICOND_TEST_DATABASE_URL=$TEST_DATABASE_URL
else
  export INFICOND_DATA_DIR=${INFICOND_DATA_DIR:-./var}
  INFICOND_PG_FSYNC=off bash scripts/pg.sh start || exit 1
  pg_started=1
  bash scripts/pg.sh dropdb inficond_test >/dev/null 2>&1
  INFICOND_TEST_DATABASE_URL=$(bash scripts/pg.sh url inficond_test) || exit 1
  export INFICOND_TEST_DATABASE_URL
  export INFICOND_TEST_PRIVATE_PG=1 # pg_private.test.mjs checks this cluster admits no one else
fi
cleanup() { [ $pg_started -eq 1 ] && bash scripts/pg.sh stop; }
trap cleanup EXIT

run_node_suite() {
  local label=$1; shift
  local files=("$@")
  [ ${#files[@]} -gt 0 ] || return 0
  echo "== $label"
  local tap="$artifacts/$label.tap"
  node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
       --test-reporter=tap --test-reporter-destination="$tap" "${files[@]}"
  local rc=$?
  local p f
  p=$(grep -E '^# pass ' "$tap" | tail -n1 | awk '{print $3}')
  f=$(grep -E '^# fail ' "$tap" | tail -n1 | awk '{print $3}')
  p=${p:-0}; f=${f:-0}
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [ $rc -eq 0 ] || failures+=("$label")
}

shopt -s nullglob
export INFICOND_BIN=${INFICOND_BIN:-build/asan/inficond}
# Every success answer the API suites get is checked against docs/openapi.yaml; each
# suite notes the operations it covered here, and one line names those none did.
export INFICOND_OPENAPI_COVERAGE="$artifacts/openapi-coverage"
rm -rf "$INFICOND_OPENAPI_COVERAGE"
run_node_suite api tests/api/*.test.mjs
node tests/api/openapi_coverage.mjs "$INFICOND_OPENAPI_COVERAGE"
unset INFICOND_OPENAPI_COVERAGE
run_node_suite ui tests/ui/*.test.mjs

# Fuzzing, bounded: each target counts as one test (tests/fuzz/smoke.sh).
echo "== fuzz (replay, then ${TEST_FUZZ_SECONDS:-10} s per target)"
if command -v clang >/dev/null; then
  fuzz_out=$(bash tests/fuzz/smoke.sh "$artifacts/fuzz.log")
  rc=$?
  echo "$fuzz_out" | grep -v ' passed, '
  p=$(tail -n1 <<<"$fuzz_out" | awk '{print $1}'); f=$(tail -n1 <<<"$fuzz_out" | awk '{print $3}')
  p=${p:-0}; f=${f:-0}
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [ $rc -eq 0 ] || failures+=("fuzz")
else
  echo "-- fuzz: clang missing (scripts/deps.sh installs it)"; failed=$((failed + 1)); failures+=("fuzz")
fi

echo
[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
