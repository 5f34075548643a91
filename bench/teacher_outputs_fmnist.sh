#!/usr/bin/env bash
# bench/teacher_outputs_fmnist.sh — end to end through the API on the release build:
# import Fashion-MNIST (60k train + 10k test, Debian's dataset-fashion-mnist), register
# a teacher-init CNN (1x28x28, 10 classes), run the teacher.outputs job over all 70k
# images and read the (N, C) matrix back. Prints the job's figures; JSON line last.
# Needs DATABASE_URL (a throwaway database) or uses the private PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fm=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -z "${DATABASE_URL:-}" ]; then
  bash scripts/pg.sh start >/dev/null
  bash scripts/pg.sh dropdb inficond_bench_fmnist >/dev/null 2>&1 || true
  DATABASE_URL=$(bash scripts/pg.sh url inficond_bench_fmnist); export DATABASE_URL
fi
port=${BENCH_PORT:-18998}; token=bench-token-0123456789abcdefghij
data=$(mktemp -d /tmp/inficond-fmnist.XXXXXX)
INFICOND_PORT=$port INFICOND_DATA_DIR=$data INFICOND_ADMIN_TOKEN=$token INFICOND_WORKERS=1 INFICOND_LOG_LEVEL=warn \
  build/inficond serve >"$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
api() { curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
wait_job() {
  local id=$1 seq=0 j state
  while :; do
    j=$(api "http://127.0.0.1:$port/api/v1/jobs/$id?wait=20&after=$seq")
    state=$(jq -r .state <<<"$j"); seq=$(jq -r .seq <<<"$j")
    case $state in succeeded) echo "$j"; return 0;; failed|cancelled) echo "$j" >&2; return 1;; esac
  done
}
classes='["t-shirt","trouser","pullover","dress","coat","sandal","shirt","sneaker","bag","ankle boot"]'
ds=$(api -X POST "http://127.0.0.1:$port/api/v1/datasets" -d '{"name":"fashion-mnist"}' | jq .id)
for part in train t10k; do
  job=$(api -X POST "http://127.0.0.1:$port/api/v1/datasets/$ds/imports" \
    -d "{\"source\":\"idx\",\"images\":\"$fm/$part-images-idx3-ubyte.gz\",\"labels\":\"$fm/$part-labels-idx1-ubyte.gz\",\"classes\":$classes}" | jq .id)
  wait_job "$job" | jq -c '{import: .result.imported, seconds: .result.seconds}'
done
build/inficond teacher-init "$data/teacher" --classes "$(jq -r 'join(",")' <<<"$classes")" --size 28 --channels 1 \
  --mean 0.2860 --std 0.3530 >/dev/null
model=$(api -X POST "http://127.0.0.1:$port/api/v1/models" -d "{\"name\":\"fmnist-cnn\",\"path\":\"$data/teacher\"}" | jq .id)
job=$(api -X POST "http://127.0.0.1:$port/api/v1/datasets/$ds/teacher-outputs" -d "{\"model_id\":$model}" | jq .id)
res=$(wait_job "$job" | jq -c .result)
out=$(jq .teacher_output_id <<<"$res")
meta=$(api "http://127.0.0.1:$port/api/v1/teacher-outputs/$out")
bytes=$(curl -fsS -H "Authorization: Bearer $token" -D "$data/h" -o "$data/p.f32" -w '%{size_download}' \
  "http://127.0.0.1:$port/api/v1/teacher-outputs/$out/probabilities?format=f32")
shape=$(grep -i '^x-shape' "$data/h" | tr -d '\r' | cut -d' ' -f2)
echo "teacher outputs: $(jq -c '{n, classes, accuracy}' <<<"$meta"); f32 bytes $bytes, X-Shape $shape"
jq -c --argjson bytes "$bytes" --arg shape "$shape" \
  '{bench:"teacher_outputs_fmnist", n, classes, seconds, images_per_s, f32_bytes:$bytes, x_shape:$shape}' <<<"$res"
