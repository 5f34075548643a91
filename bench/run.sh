#!/usr/bin/env bash
# bench/run.sh — `make bench`: every benchmark, each printing one JSON line last, then
# one summary of them all in BENCH_SUMMARY (default build/bench-summary.json; see
# bench/summary.sh). Uses the release build, a private PostgreSQL (or DATABASE_URL) and
# a throwaway database; nothing here asserts speed, it reports it. A bench that fails
# (the teacher bench when C and Python disagree, load_read on errors) does not stop
# the others; the run then exits 1, after the summary is written.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
summary=${BENCH_SUMMARY:-build/bench-summary.json}
logs=$(mktemp -d /tmp/inficond-bench-logs.XXXXXX)
: >"$logs/steps"

# step NAME COMMAND...: run one bench, its output shown and kept in $logs/NAME.log.
step() {
  local name=$1 t0 code
  shift
  echo "== $name"
  t0=$(date +%s.%N)
  set +e
  "$@" 2>&1 | tee "$logs/$name.log"
  code=${PIPESTATUS[0]}
  set -e
  printf '%s\t%s\t%s\n' "$name" "$code" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')" >>"$logs/steps"
}
skip() { echo "== $1: skipped ($2)"; printf '%s\tskipped\t0\t%s\n' "$1" "$2" >>"$logs/steps"; }

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
  rm -rf "$data" "$logs"
  [ $pg_started -eq 0 ] || bash scripts/pg.sh stop
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done

# http (wrk): the read routes' throughput
step http env BASE=http://127.0.0.1:$port TOKEN=$token bash bench/http.sh

vocab=../shared/clip/bpe_simple_vocab_16e6.txt.gz
if [ -f "$vocab" ]; then
  step tokenizer build/inficond bench tokenizer --vocab "$vocab"
else
  skip tokenizer "no $vocab"
fi

# teacher: C vs python3-torch, one thread, the same frozen + optimised module on both
# sides; fails when their checksums differ beyond the bench's tolerance
if ! /usr/bin/python3 -c 'import torch, PIL, numpy' 2>/dev/null; then
  # bench-only dependency: Debian's PyTorch (same libtorch 1.13) and PIL for the peers
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-pil >/dev/null
fi
teacher_images=${BENCH_TEACHER_IMAGES:-var/bench/teacher-scenes}
mkdir -p "$teacher_images"
step teacher build/inficond bench teacher --images "$teacher_images" --make-images --n 2000 --batch 64

# presence: concept presence against OpenBLAS SGEMM's peak (defaults: 50000 x 8 segments)
step presence build/inficond bench presence

# student: the solver against the PyTorch Adam peer (bench/student.sh's defaults)
step student bash bench/student.sh

# extract: C vs python3-torch, one thread; dense demo model, global CLIP fixture
extract_demo=${BENCH_EXTRACT_DEMO:-var/bench/extract-demo}
if [ ! -f "$extract_demo/concepts/manifest.json" ]; then
  build/inficond demo --scale small --out "$extract_demo" >/dev/null
fi
step extract-dense build/inficond bench extract --model "$extract_demo/concepts" --images "$extract_demo/scenes" \
  --corpus "$extract_demo/corpus.txt" --n 512 --batch 32 --runs 5
clip=../shared/fixtures/clip_tiny_openai_style.pt
if [ -f "$clip" ] && [ -f "$vocab" ]; then
  step extract-clip build/inficond bench extract --model "$clip" --vocab "$vocab" --images "$extract_demo/scenes" \
    --n 512 --batch 8 --runs 5
else
  skip extract-clip "no $clip or $vocab"
fi

# extract, dense CLIP: a ViT-B/16-shaped random-weight archive run by NACLIP's rule vs
# the same dense forward in python3-torch, and vs the same archive on 14 crops
# (BENCH_CLIP=0 skips)
if [ "${BENCH_CLIP:-1}" != 0 ] && [ -f "$vocab" ]; then
  b16=var/bench/clip-b16-dense
  if [ ! -f "$b16/manifest.json" ]; then
    mkdir -p "$b16"
    /usr/bin/python3 tests/clip_vit/make_clip_vit.py "$b16/model.pt" --preset b16 >/dev/null
    cp "$vocab" "$b16/"
    cat >"$b16/manifest.json" <<'JSON'
{"format": "inficond-model/1", "kind": "concept", "encoder": "dense", "file": "model.pt",
 "input": {"channels": 3, "height": 224, "width": 224,
           "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
 "methods": {"image": "encode_image", "text": "encode_text"}, "embedding_dim": 512,
 "tokenizer": {"type": "clip-bpe", "vocab": "bpe_simple_vocab_16e6.txt.gz", "context_length": 77},
 "dense": {"from": "clip-vit", "method": "naclip", "gaussian_std": 5}}
JSON
  fi
  [ -d var/bench/photos ] || /usr/bin/python3 bench/make_photos.py var/bench/photos --n 16
  step extract-dense-clip build/inficond bench extract --model "$b16" --images var/bench/photos --n 16 --warmup 1 --runs 3 --compare-global
else
  skip extract-dense-clip "BENCH_CLIP=0 or no $vocab"
fi

# whatif: every concept's removal on every split (N=50,000, d=584, C=20; target <= 50 ms)
step whatif build/inficond bench whatif

# workers_extract: the full demo's extraction (32k images, demo concept model) with 1
# worker process, then 2 (serve + `inficond worker`), same database and data folder;
# checksums compared, images/s and the ratio (target >= 1.6x on 2 cores). Needs a built
# full demo world folder in BENCH_WORKERS_WORLD (e.g. <data>/demo-full-1); its first run
# imports it into var/bench/workers-extract (minutes), later runs reuse that.
if [ -z "${BENCH_WORKERS_WORLD:-}" ]; then
  skip workers_extract "set BENCH_WORKERS_WORLD to a built full demo world folder"
elif [ $pg_started -eq 1 ]; then
  step workers_extract env DATABASE_URL="$(bash scripts/pg.sh url inficond_bench_workers)" \
    node bench/workers_extract.mjs --data "${BENCH_WORKERS_DATA:-var/bench/workers-extract}" \
    --world "$BENCH_WORKERS_WORLD" --port $((port + 2)) --repeat "${BENCH_WORKERS_REPEAT:-2}"
else
  skip workers_extract "needs the private PostgreSQL (a database no other server's workers use)"
fi

# load: read routes under wrk (50 connections, 30 s) while an extraction runs
step load_read env BASE=http://127.0.0.1:$port TOKEN=$token DEMO=$extract_demo bash bench/load_read.sh

# ui: the page's own timings (Performance API) in chromium: workspace, selection, tune.
# BENCH_UI_URL/BENCH_UI_TOKEN/BENCH_UI_PROJECT point it at a running server (the full
# demo); else it starts one on a database of its own with the small demo in
# var/bench/ui-demo (BENCH_UI_DEMO=full for the real one). BENCH_UI=0 skips it.
if [ "${BENCH_UI:-1}" = 0 ] || [ ! -x "${INFICOND_CHROMIUM:-/usr/bin/chromium}" ]; then
  skip ui "BENCH_UI=0 or no chromium"
elif [ -n "${BENCH_UI_URL:-}" ]; then
  step ui node bench/ui_perf.mjs --url "$BENCH_UI_URL" --token "${BENCH_UI_TOKEN:?BENCH_UI_TOKEN}" \
    ${BENCH_UI_PROJECT:+--project "$BENCH_UI_PROJECT"}
elif [ $pg_started -eq 1 ]; then
  bash scripts/pg.sh dropdb inficond_bench_ui >/dev/null 2>&1 || true
  step ui node bench/ui_perf.mjs --start --db "$(bash scripts/pg.sh url inficond_bench_ui)" \
    --data "${BENCH_UI_DATA:-var/bench/ui-demo}" --demo "${BENCH_UI_DEMO:-small}" --port $((port + 1))
else
  skip ui "no demo server: set BENCH_UI_URL, BENCH_UI_TOKEN and BENCH_UI_PROJECT"
fi

mkdir -p "$(dirname "$summary")"
if bash bench/summary.sh "$logs" "$summary"; then
  echo "== summary: $summary (every bench ran and reported)"
else
  echo "== summary: $summary; failed: $(jq -r '.failed | join(", ")' "$summary")" >&2
  exit 1
fi
