#!/usr/bin/env bash
# bench/run.sh — `make bench`: every benchmark, each printing one JSON line last.
# Uses the release build, a private PostgreSQL (or DATABASE_URL) and a throwaway
# database; nothing here asserts speed, it reports it.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

pg_started=0
if [ -z "${DATABASE_URL:-}" ]; then
  INFICOND_PG_FSYNC=off bash scripts/pg.sh start
  pg_started=1
  bash scripts/pg.sh dropdb inficond_bench >/dev/null 2>&1 || true
  DATABASE_URL=$(bash scripts/pg.sh url inficond_bench)
  export DATABASE_URL
fi

port=${BENCH_PORT:-18999}
token=bench-token-0123456789abcdefghij
data=$(mktemp -d /tmp/inficond-bench.XXXXXX)
INFICOND_PORT=$port INFICOND_DATA_DIR=$data INFICOND_ADMIN_TOKEN=$token INFICOND_LOG_LEVEL=warn INFICOND_DEMO=off \
  build/inficond serve >"$data/serve.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$data"
  [ $pg_started -eq 0 ] || bash scripts/pg.sh stop
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done

echo "== http (wrk)"
BASE=http://127.0.0.1:$port TOKEN=$token bash bench/http.sh

vocab=../shared/clip/bpe_simple_vocab_16e6.txt.gz
if [ -f "$vocab" ]; then
  echo "== tokenizer"
  build/inficond bench tokenizer --vocab "$vocab"
fi

echo "== teacher (C vs python3-torch, one thread)"
if ! /usr/bin/python3 -c 'import torch, PIL, numpy' 2>/dev/null; then
  # bench-only dependency: Debian's PyTorch (same libtorch 1.13) and PIL for the peer
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-pil >/dev/null
fi
teacher_images=${BENCH_TEACHER_IMAGES:-var/bench/teacher-scenes}
mkdir -p "$teacher_images"
build/inficond bench teacher --images "$teacher_images" --make-images --n 2000 --batch 64

echo "== extract (C vs python3-torch, one thread; dense demo model, global CLIP fixture)"
extract_demo=${BENCH_EXTRACT_DEMO:-var/bench/extract-demo}
if [ ! -f "$extract_demo/concepts/manifest.json" ]; then
  build/inficond demo --scale small --out "$extract_demo" >/dev/null
fi
build/inficond bench extract --model "$extract_demo/concepts" --images "$extract_demo/scenes" \
  --corpus "$extract_demo/corpus.txt" --n 512 --batch 32 --runs 5
clip=../shared/fixtures/clip_tiny_openai_style.pt
if [ -f "$clip" ] && [ -f "$vocab" ]; then
  build/inficond bench extract --model "$clip" --vocab "$vocab" --images "$extract_demo/scenes" \
    --n 512 --batch 8 --runs 5
fi

echo "== whatif: every concept's removal on every split (N=50,000, d=584, C=20; target <= 50 ms)"
build/inficond bench whatif

echo "== load: read routes under wrk (50 connections, 30 s) while an extraction runs"
BASE=http://127.0.0.1:$port TOKEN=$token DEMO=$extract_demo bash bench/load_read.sh

echo "== ui: the page's own timings (Performance API) in chromium: workspace, selection, tune"
# BENCH_UI_URL/BENCH_UI_TOKEN/BENCH_UI_PROJECT point it at a running server (the full
# demo); else it starts one on a database of its own with the small demo in
# var/bench/ui-demo (BENCH_UI_DEMO=full for the real one). BENCH_UI=0 skips it.
if [ "${BENCH_UI:-1}" = 0 ] || [ ! -x "${INFICOND_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "skipped (BENCH_UI=0 or no chromium)"
elif [ -n "${BENCH_UI_URL:-}" ]; then
  node bench/ui_perf.mjs --url "$BENCH_UI_URL" --token "${BENCH_UI_TOKEN:?BENCH_UI_TOKEN}" ${BENCH_UI_PROJECT:+--project "$BENCH_UI_PROJECT"}
elif [ $pg_started -eq 1 ]; then
  bash scripts/pg.sh dropdb inficond_bench_ui >/dev/null 2>&1 || true
  node bench/ui_perf.mjs --start --db "$(bash scripts/pg.sh url inficond_bench_ui)" \
    --data "${BENCH_UI_DATA:-var/bench/ui-demo}" --demo "${BENCH_UI_DEMO:-small}" --port $((port + 1))
else
  echo "skipped (no demo server: set BENCH_UI_URL, BENCH_UI_TOKEN and BENCH_UI_PROJECT)"
fi
