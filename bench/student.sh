#!/usr/bin/env bash
# bench/student.sh — the student solver (`inficond bench student`) against its PyTorch
# peer (bench/student_peer.py: Linear + BCE-with-logits on the teacher probabilities +
# L1, Adam lr 1e-3, batch 256, 100 epochs), one thread each, on the same files.
#
#   bash bench/student.sh [N D C]      (default 50000 584 20; needs build/inficond)
#
# Generates the synthetic problem once (STUDENT_BENCH_DIR, default
# /tmp/inficond-bench-student/N-D-C), runs the peer once (its per-epoch curve gives
# the epoch where it first reached its final fidelity), then our bench RUNS times
# (default 3; medians). Prints a table and one JSON line last.
#
# OpenBLAS 0.3.21 does not know some virtual CPUs and falls back to its Prescott (SSE3)
# kernels; when /proc/cpuinfo shows AVX2 and OPENBLAS_CORETYPE is unset, it is set to
# Haswell for BOTH sides (python3-torch uses the same libopenblas). Say
# OPENBLAS_CORETYPE=Prescott to measure the fallback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000} D=${2:-584} C=${3:-20}
RUNS=${RUNS:-3}
PY=${PYTHON:-/usr/bin/python3}
BIN=${INFICOND:-build/inficond}
dir=${STUDENT_BENCH_DIR:-/tmp/inficond-bench-student}/$N-$D-$C
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi

[ -x "$BIN" ] || { echo "bench student: $BIN missing (make build/inficond)" >&2; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "bench student: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }
if [ ! -s "$dir/P.f32" ]; then
  mkdir -p "$dir"
  "$BIN" bench student --gen "$dir" --n "$N" --d "$D" --c "$C" --seed 1 >/dev/null
fi

echo "== peer: python3-torch, Adam, 100 epochs (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto})"
"$PY" bench/student_peer.py "$dir/X.f32" "$dir/P.f32" "$N" "$D" "$C" | tee "$dir/peer.log" | grep -E "^epoch +(1|10|25|50|75|100) "
peer=$(tail -n 1 "$dir/peer.log")
peer_fid=$(jq -r .fidelity <<<"$peer")

echo "== ours: inficond bench student x $RUNS (target: the peer's final fidelity $peer_fid)"
: >"$dir/ours.jsonl"
for _ in $(seq 1 "$RUNS"); do
  "$BIN" bench student --x "$dir/X.f32" --p "$dir/P.f32" --n "$N" --d "$D" --c "$C" --target "$peer_fid" \
    | tee "$dir/ours.log" | tail -n 1 >>"$dir/ours.jsonl"
done
grep -E "fit from|nonzeros|path|retrain one" "$dir/ours.log" | sed 's/^/  (last run) /'

jq -s -c --argjson peer "$peer" '
  def med: sort | .[(length / 2 | floor)];
  (map(.seconds) | med) as $s
  | (map(.retrain_ms_median) | med) as $r
  | (map(.seconds_to_target) | map(select(. != null and . >= 0))) as $tt
  | .[0] as $o
  | ($peer.curve | map(select(.fidelity >= $o.fidelity)) | first) as $peq
  | {bench: "student", n: $o.n, d: $o.d, c: $o.c, lambda: $o.lambda, runs: length,
     seconds: $s, seconds_runs: map(.seconds), objective: $o.objective, fidelity: $o.fidelity,
     nonzeros: $o.nonzeros, converged: $o.converged,
     retrain_ms_median: $r, retrain_ms_runs: map(.retrain_ms_median),
     peer_fidelity: $peer.fidelity, peer_seconds: $peer.seconds, peer_objective: $peer.objective,
     peer_nonzeros: $peer.nonzeros, peer_seconds_to_final: $peer.seconds_to_final,
     peer_first_epoch_at_final: $peer.first_epoch_at_final,
     seconds_to_peer_final: (if ($tt | length) == length then ($tt | med) else null end),
     speedup_to_peer_final: (if ($tt | length) == length then $peer.seconds_to_final / ($tt | med) else null end),
     peer_seconds_to_our_fidelity: (if $peq then $peq.seconds else null end),
     speedup_at_our_fidelity: (if $peq then $peq.seconds / $s else null end),
     fidelity_minus_peer: ($o.fidelity - $peer.fidelity),
     openblas_coretype: (env.OPENBLAS_CORETYPE // "auto")}' "$dir/ours.jsonl" >"$dir/summary.json"

jq -r '"",
  "                      ours        peer (Adam, 100 epochs)",
  "  seconds        \(.seconds | tostring | .[0:7])      \(.peer_seconds)",
  "  objective      \(.objective | tostring | .[0:8])    \(.peer_objective | tostring | .[0:8])",
  "  fidelity       \(.fidelity)      \(.peer_fidelity | tostring | .[0:8])",
  "  nonzeros       \(.nonzeros)          \(.peer_nonzeros)",
  "  to the peer final fidelity: ours \(.seconds_to_peer_final // "never (the exact optimum is below it)") s, peer \(.peer_seconds_to_final) s (epoch \(.peer_first_epoch_at_final))",
  "  peer to our fidelity: \(.peer_seconds_to_our_fidelity // "never") s; speedup at equal fidelity \(.speedup_at_our_fidelity // "n/a")",
  "  one-class warm retrain after one bound change: median \(.retrain_ms_median) ms",
  ""' "$dir/summary.json"
cat "$dir/summary.json"
