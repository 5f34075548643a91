#!/usr/bin/env bash
# tests/run.sh — what `make test` runs after building (ASan/UBSan build in build/asan):
#   1. unit tests: every build/asan/tests/test_* (cmocka)
#   2. API tests:  node --test tests/api/*.test.mjs against real servers and a fresh
#                  database on the private PostgreSQL (or TEST_DATABASE_URL's server)
#   3. UI tests:   node --test tests/ui/*.test.mjs (playwright-core + Debian chromium)
#   4. fuzzing:    tests/fuzz/smoke.sh: every libFuzzer target replays its regressions
#                  and seeds, then fuzzes TEST_FUZZ_SECONDS (default 10); `make fuzz`
#                  is the long run
# and ends with one line: "N passed, N failed, N skipped". Each part ends with how long
# it took ("== api (took 612 s)").
#
# The small demo world (minutes of libtorch training with the release binary) is made
# once per run, shared by the suites that need it (tests/api/demo_cache.mjs): when one of
# them is to run, its build starts in the background first, on one thread, so it
# overlaps the unit tests and the API suites that do not need it; those that do run
# last in their part and wait for it (the cache's lock) if it is not done yet.
#
# A test that cannot run here (no chromium, no Fashion-MNIST, no ../shared beside the
# clone) is skipped and says what it needs; the skips are counted and listed. Under
# CI=true nothing may be skipped: every skip is listed with its reason and counted as
# failed as well, and the run fails.
#
# TEST_ONLY (default: everything) narrows the run, e.g. to check this script: words
# out of unit, api, ui, fuzz (that part whole) or paths of test files (tests/api/x.test.mjs,
# build/asan/tests/test_x: those alone within their part). Parts not named do not run.
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
skipped=0
failures=()
skips=() # "where: what — why", one per skipped test

only=" ${TEST_ONLY:-} "
# The files of `part` to run: all of them, those TEST_ONLY names, or none.
pick() {
  local part=$1 f
  shift
  if [ -z "${TEST_ONLY:-}" ] || [[ $only == *" $part "* ]]; then
    [ $# -eq 0 ] || printf '%s\n' "$@"
    return
  fi
  for f in "$@"; do [[ $only == *" $f "* ]] && printf '%s\n' "$f"; done
}
wanted() { [ -z "${TEST_ONLY:-}" ] || [[ $only == *" $1 "* ]] || [[ $only == *" $2"* ]]; }

shopt -s nullglob
mapfile -t api < <(pick api tests/api/*.test.mjs)
mapfile -t ui < <(pick ui tests/ui/*.test.mjs)

# The suites that use the demo world, and the background build of it they will wait on.
uses_world() { grep -lE "demo_cache\.mjs|demo_world\.mjs" "$@" 2>/dev/null; }
world_pid=
cleanup_world() {
  [ -n "$world_pid" ] || return 0
  kill -- -"$world_pid" 2>/dev/null
  wait "$world_pid" 2>/dev/null
  world_pid=
}
if [ $((${#api[@]} + ${#ui[@]})) -gt 0 ] && [ -n "$(uses_world "${api[@]}" "${ui[@]}")" ]; then
  # A process group of its own (setsid), so that stopping it stops the training too.
  setsid node tests/api/demo_cache.mjs >"$artifacts/demo-world.log" 2>&1 &
  world_pid=$!
  echo "== demo world: building in the background if not cached (log: test-artifacts/demo-world.log)"
fi
# Those API suites last (a group of their own), so that the others run while the world
# trains.
if [ ${#api[@]} -gt 0 ]; then
  mapfile -t later < <(uses_world "${api[@]}")
  mapfile -t api < <(printf '%s\n' "${api[@]}" | grep -vxF -f <(printf '%s\n' "${later[@]}" ''))
  [ ${#later[@]} -eq 0 ] || api+=(-- "${later[@]}")
fi

mapfile -t units < <(pick unit build/asan/tests/test_*)
if [ ${#units[@]} -gt 0 ]; then
  echo "== unit tests (ASan/UBSan)"
fi
part_t0=$SECONDS
# The programs run TEST_JOBS at a time (default: one per CPU; each is one process, and
# they share nothing but /tmp, under names of their own); their outputs are read in order.
unit_out="$artifacts/unit"
rm -rf "$unit_out"
mkdir -p "$unit_out"
. tests/lib/bounded_jobs.sh # waits only on its own pids (not the demo world's build: a child too)
run_unit() { "$1" >"$unit_out/$2.out" 2>&1; echo $? >"$unit_out/$2.rc"; }
for t in "${units[@]}"; do
  [ -x "$t" ] || continue
  bounded_start run_unit "$t" "$(basename "$t")"
done
bounded_wait
for t in "${units[@]}"; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  out=$(cat "$unit_out/$name.out")
  rc=$(cat "$unit_out/$name.rc" 2>/dev/null || echo 1)
  p=$(grep -Eo '\[  PASSED  \] [0-9]+' <<<"$out" | grep -Eo '[0-9]+$' | tail -n1)
  f=$(grep -Eo '\[  FAILED  \] [0-9]+' <<<"$out" | grep -Eo '[0-9]+$' | tail -n1)
  s=$(grep -Eo '\[  SKIPPED \] [0-9]+ test' <<<"$out" | grep -Eo '[0-9]+' | tail -n1)
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer report
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ "$s" -gt 0 ]; then
    # cmocka lists the skipped tests after its summary; the tests print "# SKIP <why>".
    why=$(grep -E '^# SKIP ' <<<"$out" | sed 's/^# SKIP //' | sort -u | paste -sd ';' -)
    while IFS= read -r n; do
      skips+=("unit $name: $n — ${why:-no reason given}")
    done < <(sed -n '/\[  SKIPPED \] [0-9]* test(s), listed below:/,$p' <<<"$out" |
             sed -n 's/^\[  SKIPPED \] \([^ ]*\)$/\1/p')
  fi
  sk=""; [ "$s" -eq 0 ] || sk=", $s skipped"
  if [ $rc -ne 0 ]; then
    failures+=("$name")
    echo "$out" | tail -n 40
    echo "-- $name: FAILED ($p passed, $f failed$sk)"
  else
    echo "-- $name: $p passed$sk"
  fi
done
[ ${#units[@]} -eq 0 ] || echo "== unit tests (took $((SECONDS - part_t0)) s)"

# A database for the API and UI tests: a fresh one each run.
pg_started=0
cleanup() {
  [ -z "${ui_pid:-}" ] || { kill "$ui_pid" 2>/dev/null; wait "$ui_pid" 2>/dev/null; }
  cleanup_world
  [ $pg_started -eq 1 ] && bash scripts/pg.sh stop
}
trap cleanup EXIT
if [ $((${#api[@]} + ${#ui[@]})) -gt 0 ]; then
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
fi

# run_node_groups LABEL FILE... [-- FILE...]: node --test over the files, a group at a
# time ("--" separates groups, run in that order: node sorts the files it is given);
# spec output to stdout, TAP to test-artifacts/LABEL.tap, and the numbers for
# count_node_suite to test-artifacts/LABEL.counts ("passed failed skipped rc").
# The closing numbers of node's TAP output: "# pass N", "# fail N", "# cancelled N",
# "# skipped N", "# todo N" (todo tests do not count as run).
run_node_groups() {
  local label=$1; shift
  local args=("$@") group=() rc=0 a p=0 f=0 s=0 v k
  local t0=$SECONDS tap="$artifacts/$label.tap"
  echo "== $label"
  : >"$tap"
  for a in "${args[@]}" --; do
    if [ "$a" != -- ]; then group+=("$a"); continue; fi
    [ ${#group[@]} -gt 0 ] || continue
    node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
         --test-reporter=tap --test-reporter-destination="$tap.part" "${group[@]}" || rc=1
    for k in pass fail cancelled skipped todo; do
      v=$(grep -E "^# $k " "$tap.part" | tail -n1 | awk '{print $3}')
      v=${v:-0}
      case $k in pass) p=$((p + v)) ;; fail|cancelled) f=$((f + v)) ;; *) s=$((s + v)) ;; esac
    done
    cat "$tap.part" >>"$tap"
    rm -f "$tap.part"
    group=()
  done
  echo "$p $f $s $rc" >"$artifacts/$label.counts"
  echo "== $label (took $((SECONDS - t0)) s)"
}

# Adds what run_node_groups LABEL counted to the totals; each skipped or todo test is an
# "ok N - name # SKIP why" (or "# TODO why") line of its TAP, nested ones indented.
count_node_suite() {
  local label=$1 p=0 f=1 s=0 rc=1 n
  [ -r "$artifacts/$label.counts" ] && read -r p f s rc <"$artifacts/$label.counts"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  [ "$rc" -eq 0 ] || failures+=("$label")
  while IFS= read -r n; do skips+=("$label: $n"); done < <(
    sed -nE -e 's/^ *(not )?ok [0-9]+ - (.*) # SKIP ?(.*)$/\2 — \3/p' \
            -e 's/^ *(not )?ok [0-9]+ - (.*) # TODO ?(.*)$/\2 — todo: \3/p' "$artifacts/$label.tap")
  [ "$s" -eq 0 ] || echo "-- $label: $s skipped"
}

export INFICOND_BIN=${INFICOND_BIN:-build/asan/inficond}
rm -f "$artifacts/api.counts" "$artifacts/ui.counts"

# TEST_UI_BESIDE=1: the UI part runs beside the API part (for machines with CPUs to
# spare), on a database of its own: the job queue is per database, and a UI server's
# workers must not take an API suite's jobs; its output is shown once the API part is
# done. Not the default: on 2 shared vCPUs it made the API part twice as slow (its
# ASan servers are CPU-bound) and the timing check of security.test.mjs failed.
ui_pid=
ui_beside=0
if [ ${#api[@]} -gt 0 ] && [ ${#ui[@]} -gt 0 ] && [ $pg_started -eq 1 ] && [ "${TEST_UI_BESIDE:-}" = 1 ]; then
  ui_beside=1
  bash scripts/pg.sh dropdb inficond_test_ui >/dev/null 2>&1
  ui_db=$(bash scripts/pg.sh url inficond_test_ui) || exit 1
  echo "== ui: running beside the API part (its output follows the API part's)"
  INFICOND_TEST_DATABASE_URL=$ui_db run_node_groups ui "${ui[@]}" >"$artifacts/ui.out" 2>&1 &
  ui_pid=$!
fi

# Every success answer the API suites get is checked against docs/openapi.yaml; each
# suite notes the operations it covered here, and one line names those none did.
if [ ${#api[@]} -gt 0 ]; then
  rm -rf "$artifacts/openapi-coverage"
  INFICOND_OPENAPI_COVERAGE="$artifacts/openapi-coverage" run_node_groups api "${api[@]}"
  count_node_suite api
  node tests/api/openapi_coverage.mjs "$artifacts/openapi-coverage"
fi
if [ $ui_beside -eq 1 ]; then
  wait "$ui_pid"
  ui_pid=
  cat "$artifacts/ui.out"
  count_node_suite ui
elif [ ${#ui[@]} -gt 0 ]; then
  run_node_groups ui "${ui[@]}"
  count_node_suite ui
fi
# The background build is done by now unless no suite waited for it (all failed early).
if [ -n "$world_pid" ]; then
  if kill -0 "$world_pid" 2>/dev/null; then
    echo "-- demo world: still building, stopped"
  else
    wait "$world_pid"; rc=$?
    echo "-- demo world (background, exit $rc): $(tail -n1 "$artifacts/demo-world.log")"
  fi
  cleanup_world
fi

# Fuzzing, bounded: each target counts as one test (tests/fuzz/smoke.sh).
if wanted fuzz tests/fuzz/; then
  echo "== fuzz (replay, then ${TEST_FUZZ_SECONDS:-10} s per target)"
  part_t0=$SECONDS
  if command -v clang >/dev/null; then
    fuzz_out=$(bash tests/fuzz/smoke.sh "$artifacts/fuzz.log")
    rc=$?
    echo "$fuzz_out" | grep -v ' passed, '
    last=$(tail -n1 <<<"$fuzz_out")
    p=$(awk '{print $1}' <<<"$last"); f=$(awk '{print $3}' <<<"$last"); s=$(awk '{print $5}' <<<"$last")
    p=${p:-0}; f=${f:-0}; s=${s:-0}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    [ $rc -eq 0 ] || failures+=("fuzz")
    while IFS= read -r n; do skips+=("fuzz $n"); done < <(sed -n 's/^-- fuzz \(.*\): SKIPPED (\(.*\))$/\1 — \2/p' <<<"$fuzz_out")
  else
    echo "-- fuzz: clang missing (scripts/deps.sh installs it)"; failed=$((failed + 1)); failures+=("fuzz")
  fi
  echo "== fuzz (took $((SECONDS - part_t0)) s)"
fi

echo
if [ ${#skips[@]} -gt 0 ]; then
  echo "skipped tests and why:"
  printf '  %s\n' "${skips[@]}"
fi
# The listed reasons should account for every skip; a count without its line is a bug here.
[ "$skipped" -eq ${#skips[@]} ] || echo "($skipped skipped by the counts, ${#skips[@]} listed above)"
if [ "${CI:-}" = true ] && [ "$skipped" -gt 0 ]; then
  echo "CI=true: every test must run here; the $skipped skipped count as failed"
  failed=$((failed + skipped))
  failures+=("skips under CI")
fi
[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
