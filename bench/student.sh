#!/usr/bin/env bash
# bench/student.sh — the student solver (`inficond bench student`) against its PyTorch
# peer (bench/student_peer.py: Linear + BCE-with-logits on the teacher probabilities +
# L1, Adam lr 1e-3, batch 256, 100 epochs), one thread each, on the same files.
#
#   bash bench/student.sh [N D C]      (default 50000 584 20; needs build/inficond)
#   GEN_KIND=planted bash bench/student.sh     (the earlier, easier synthetic problem)
#
# Generates the synthetic problem once (GEN_KIND embed, the default, or planted; see
# server/student_gen.h; in STUDENT_BENCH_DIR, default /tmp/inficond-bench-student/
# N-D-C-KIND), runs the peer once (its per-epoch curve gives the epoch where it first
# reached its final fidelity), then our bench RUNS times (default 3; medians). Our
# first run saves its weights and the peer's own loss evaluates them: both objectives
# side by side, computed by the same code. Times are wall seconds and, beside them,
# CPU seconds of each process (on a shared, loaded machine the CPU ratio is the
# steadier one). Prints a table and one JSON line last.
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
KIND=${GEN_KIND:-embed}
dir=${STUDENT_BENCH_DIR:-/tmp/inficond-bench-student}/$N-$D-$C-$KIND
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi

[ -x "$BIN" ] || { echo "bench student: $BIN missing (make build/inficond)" >&2; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "bench student: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }
if [ ! -s "$dir/P.f32" ]; then
  mkdir -p "$dir"
  "$BIN" bench student --gen "$dir" --gen-kind "$KIND" --n "$N" --d "$D" --c "$C" --seed 1 >/dev/null
fi

echo "== $KIND problem $N x $D, $C classes; peer: python3-torch, Adam, 100 epochs (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto})"
"$PY" bench/student_peer.py "$dir/X.f32" "$dir/P.f32" "$N" "$D" "$C" | tee "$dir/peer.log" | grep -E "^epoch +(1|10|25|50|75|100) "
peer=$(tail -n 1 "$dir/peer.log")
peer_fid=$(jq -r .fidelity <<<"$peer")

echo "== ours: inficond bench student x $RUNS (target: the peer's final fidelity $peer_fid)"
: >"$dir/ours.jsonl"
for r in $(seq 1 "$RUNS"); do
  save=(); [ "$r" = 1 ] && save=(--save "$dir")
  "$BIN" bench student --x "$dir/X.f32" --p "$dir/P.f32" --n "$N" --d "$D" --c "$C" --target "$peer_fid" "${save[@]}" \
    | tee "$dir/ours.log" | tail -n 1 >>"$dir/ours.jsonl"
done
grep -E "fit from|fidelity|converged|cold fit to|retrain one" "$dir/ours.log" | sed 's/^/  (last run) /'
# our first run's weights, scored by the peer's own loss (the same objective?)
evalj=$("$PY" bench/student_peer.py "$dir/X.f32" "$dir/P.f32" "$N" "$D" "$C" --eval-weights "$dir/W.f32" "$dir/b.f32")

jq -s -c --argjson peer "$peer" --argjson ev "$evalj" --arg kind "$KIND" '
  def med: sort | .[(length / 2 | floor)];
  (map(.seconds) | med) as $s
  | (map(.retrain_ms_median) | med) as $r
  | (map(.cpu_seconds) | med) as $cs
  | (map(.retrain_cpu_ms_median) | med) as $rc
  | (map(.seconds_to_target) | map(select(. != null and . >= 0))) as $tt
  | (map(.cpu_seconds_to_target) | map(select(. != null and . >= 0))) as $tc
  | .[0] as $o
  | ($peer.curve | map(select(.fidelity >= $o.fidelity)) | first) as $peq
  | {bench: "student", kind: $kind, n: $o.n, d: $o.d, c: $o.c, lambda: $o.lambda, runs: length,
     seconds: $s, seconds_runs: map(.seconds), cpu_seconds: $cs, cpu_seconds_runs: map(.cpu_seconds),
     objective: $o.objective, objective_by_peer_loss: $ev.objective, max_kkt: $o.max_kkt,
     fidelity: $o.fidelity, nonzeros: $o.nonzeros, converged: $o.converged,
     retrain_ms_median: $r, retrain_ms_runs: map(.retrain_ms_median),
     retrain_cpu_ms_median: $rc, retrain_cpu_ms_runs: map(.retrain_cpu_ms_median),
     peer_fidelity: $peer.fidelity, peer_seconds: $peer.seconds, peer_cpu_seconds: $peer.cpu_seconds,
     peer_objective: $peer.objective, objective_minus_peer: ($o.objective - $peer.objective),
     peer_nonzeros: $peer.nonzeros, peer_seconds_to_final: $peer.seconds_to_final,
     peer_cpu_seconds_to_final: $peer.cpu_seconds_to_final,
     peer_first_epoch_at_final: $peer.first_epoch_at_final,
     seconds_to_peer_final: (if ($tt | length) == length then ($tt | med) else null end),
     speedup_to_peer_final: (if ($tt | length) == length then $peer.seconds_to_final / ($tt | med) else null end),
     cpu_seconds_to_peer_final: (if ($tc | length) == length then ($tc | med) else null end),
     cpu_speedup_to_peer_final: (if ($tc | length) == length then $peer.cpu_seconds_to_final / ($tc | med) else null end),
     peer_seconds_to_our_fidelity: (if $peq then $peq.seconds else null end),
     speedup_at_our_fidelity: (if $peq then $peq.seconds / $s else null end),
     cpu_speedup_at_our_fidelity: (if $peq then $peq.cpu_seconds / $cs else null end),
     fidelity_minus_peer: ($o.fidelity - $peer.fidelity),
     openblas_coretype: (env.OPENBLAS_CORETYPE // "auto")}' "$dir/ours.jsonl" >"$dir/summary.json"

jq -r '"",
  "  \(.kind) problem        ours        peer (Adam, 100 epochs)",
  "  seconds        \(.seconds | tostring | .[0:7])      \(.peer_seconds)",
  "  CPU seconds    \(.cpu_seconds | tostring | .[0:7])      \(.peer_cpu_seconds)",
  "  objective      \(.objective | tostring | .[0:10])  \(.peer_objective | tostring | .[0:10])   (ours by the peer loss: \(.objective_by_peer_loss | tostring | .[0:10]); our max KKT \(.max_kkt))",
  "  fidelity       \(.fidelity)      \(.peer_fidelity | tostring | .[0:8])",
  "  nonzeros       \(.nonzeros)          \(.peer_nonzeros)",
  "  to the peer final fidelity: ours \(if .seconds_to_peer_final then "\(.seconds_to_peer_final) s" else "never (the exact optimum is below it)" end) (CPU \(.cpu_seconds_to_peer_final // "-")), peer \(.peer_seconds_to_final) s (CPU \(.peer_cpu_seconds_to_final), epoch \(.peer_first_epoch_at_final)); speedup \(.speedup_to_peer_final // "n/a") (CPU \(.cpu_speedup_to_peer_final // "n/a"))",
  "  peer to our fidelity: \(if .peer_seconds_to_our_fidelity then "\(.peer_seconds_to_our_fidelity) s" else "never" end); speedup at equal fidelity \(.speedup_at_our_fidelity // "n/a")",
  "  one-class warm retrain after one bound change: median \(.retrain_ms_median) ms (CPU \(.retrain_cpu_ms_median) ms)",
  ""' "$dir/summary.json"
cat "$dir/summary.json"
