#!/usr/bin/env bash
# tests/fuzz/run.sh — build and run the libFuzzer targets (clang, ASan + UBSan).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]   fuzz each target for SECONDS (default
#                                             $FUZZ_SECONDS or 60); prints runs per target
#   tests/fuzz/run.sh --regress [TARGET...]   replay tests/fuzz/regress/<t>/* and the seeds
#                                             tests/fuzz/corpus/<t>/* once; exit 1 on a failure
#   tests/fuzz/run.sh --build                 only build
#
# Objects go to build/fuzz/obj (every server/*.c and server/*/*.c but main.c, built with
# -fsanitize=fuzzer-no-link,address,undefined), targets to build/fuzz/fuzz_<t>, the
# growing corpus to build/fuzz/corpus/<t>, crashes to build/fuzz/artifacts/<t>/
# ($FUZZ_OUT instead of build/fuzz when set).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

CLANG=${CLANG:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -pthread $SAN -Iserver -Ishim -I/usr/include/postgresql"
LIBS="-lmicrohttpd -lz -ljansson -lpq -lopenblas -lturbojpeg -lsodium -larchive -lspng -lutf8proc -lm -lpthread"
OUT=${FUZZ_OUT:-build/fuzz}   # make test uses its own, so a long run can go on beside it
ALL_TARGETS=$(ls tests/fuzz/fuzz_*.c | sed 's#.*/fuzz_\(.*\)\.c#\1#')

mode=fuzz
secs=${FUZZ_SECONDS:-60}
case "${1:-}" in
  --regress) mode=regress; shift ;;
  --build) mode=build; shift ;;
  ''|*[!0-9]*) ;;
  *) secs=$1; shift ;;
esac
targets=${*:-$ALL_TARGETS}

command -v "$CLANG" >/dev/null || { echo "fuzz: $CLANG not found (apt-get install clang libclang-rt-14-dev)"; exit 2; }

# The libtorch shim: built by the main Makefile; the parsers do not call it, but the
# server objects reference it.
if [ ! -f build/libinficond_shim.so ]; then
  make --no-print-directory build/libinficond_shim.so || exit 2
fi

# Build: server objects (incremental), then each target.
mkdir -p "$OUT/obj"
objs=()
pids=()
for src in server/*.c server/*/*.c; do
  n=$(basename "$src" .c)
  [ "$n" = main ] && continue
  o="$OUT/obj/$n.o"
  objs+=("$o")
  if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find server shim -name '*.h' -newer "$o" -print -quit)" ]; then
    $CLANG $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$o" & pids+=($!)
  fi
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ $fail -eq 0 ] || { echo "fuzz: building server objects failed"; exit 2; }
for t in $targets; do
  src=tests/fuzz/fuzz_$t.c
  [ -f "$src" ] || { echo "fuzz: no target $t"; exit 2; }
  bin=$OUT/fuzz_$t
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ tests/fuzz/fuzz_common.h -nt "$bin" ] || \
     [ -n "$(find "$OUT/obj" -name '*.o' -newer "$bin" -print -quit)" ]; then
    $CLANG $CFLAGS -fsanitize=fuzzer -Itests/fuzz -o "$bin" "$src" "${objs[@]}" \
      -Lbuild -linficond_shim -Wl,-rpath,"$root/build" $LIBS || { echo "fuzz: linking $t failed"; exit 2; }
  fi
done
[ "$mode" = build ] && exit 0

export INFICOND_CLIP_VOCAB=${INFICOND_CLIP_VOCAB:-$root/../shared/clip/bpe_simple_vocab_16e6.txt.gz}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
FLAGS="-rss_limit_mb=4096 -timeout=20 -max_len=65536"

status=0
if [ "$mode" = regress ]; then
  for t in $targets; do
    files=()
    for d in tests/fuzz/regress/$t tests/fuzz/corpus/$t; do
      [ -d "$d" ] && while IFS= read -r f; do files+=("$f"); done < <(find "$d" -type f | sort)
    done
    [ ${#files[@]} -gt 0 ] || { echo "-- $t: no inputs"; continue; }
    if log=$("$OUT/fuzz_$t" $FLAGS -runs=1 "${files[@]}" 2>&1); then
      echo "-- $t: ${#files[@]} inputs ok"
    else
      echo "$log" | tail -n 40
      echo "-- $t: FAILED"
      status=1
    fi
  done
  exit $status
fi

printf '%-16s %12s %8s  %s\n' target runs seconds result
for t in $targets; do
  corpus=$OUT/corpus/$t
  art=$OUT/artifacts/$t
  mkdir -p "$corpus" "$art" tests/fuzz/corpus/$t
  log=$OUT/$t.log
  start=$(date +%s)
  "$OUT/fuzz_$t" $FLAGS -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art/" \
    "$corpus" tests/fuzz/corpus/$t >"$log" 2>&1
  rc=$?
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n1)
  if [ $rc -eq 0 ]; then res="nothing found"
  else
    res="FOUND (rc $rc): $(grep -Eo 'ERROR: [A-Za-z]+: [^ ]+|runtime error: .*|ERROR: libFuzzer: [a-z-]+' "$log" | head -n1); see $log, $art/"
    status=1
  fi
  printf '%-16s %12s %8s  %s\n' "$t" "${runs:-?}" "$(( $(date +%s) - start ))" "$res"
done
exit $status
