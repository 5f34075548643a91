#!/usr/bin/env bash
# run.sh — what `make run` does after building: a database (DATABASE_URL, or a
# private cluster under the data folder), then `inficond serve` in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_URL:-}" ]; then
  bash scripts/pg.sh start
  DATABASE_URL=$(bash scripts/pg.sh url inficond)
  export DATABASE_URL
  trap 'echo "run: stopping the private PostgreSQL"; bash scripts/pg.sh stop' EXIT
fi
port=${INFICOND_PORT:-8080}
# The first start builds the demo project (a job; the page shows its progress);
# INFICOND_DEMO=small builds a quick one, off none.
export INFICOND_DEMO=${INFICOND_DEMO:-full}
echo "run: starting inficond on http://localhost:$port/ (Ctrl-C stops it)"
echo "run: on the first start the admin's login token is printed below; keep it."
build/inficond serve &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1; then
    echo "run: ready: open http://localhost:$port/ and log in (user 'admin' with the token, or your own account)"
    break
  fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.2
done
set +e
wait $pid
status=$?
# The first wait returns when a trapped signal arrives; wait for the real exit.
kill -0 $pid 2>/dev/null && wait $pid && status=$?
exit $status
