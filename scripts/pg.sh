#!/usr/bin/env bash
# pg.sh — a private PostgreSQL cluster under the data folder, on a Unix socket only.
#
#   scripts/pg.sh start        initdb on first use, then start (idempotent)
#   scripts/pg.sh stop         fast shutdown
#   scripts/pg.sh url [DB]     print the DATABASE_URL for database DB (default inficond),
#                              creating the database when missing
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres`
# user, who must be able to reach the folder: we grant it search permission on the
# folders above with an ACL (a clone under /root is a common case).
set -euo pipefail
cd "$(dirname "$0")/.."

data_root=${INFICOND_DATA_DIR:-./var}
mkdir -p "$data_root"
data_root=$(cd "$data_root" && pwd)
pgdir="$data_root/pg"
cluster="$pgdir/cluster"
sock="$pgdir/sock"
port=${INFICOND_PG_PORT:-5432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

# Unix socket paths are limited to 107 bytes; fall back to a short private folder.
if [ $(( ${#sock} + 16 )) -gt 100 ]; then
  sock="/tmp/inficond-pg-$(echo -n "$pgdir" | md5sum | cut -c1-12)"
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

grant_reach() {
  [ "$(id -u)" -eq 0 ] || return 0
  local d=$pgdir
  while [ "$d" != "/" ]; do
    d=$(dirname "$d")
    if ! su postgres -s /bin/sh -c "test -x '$d'" 2>/dev/null; then
      setfacl -m u:postgres:x "$d" 2>/dev/null || chmod o+x "$d"
    fi
  done
  chown -R postgres:postgres "$pgdir"
}

start() {
  mkdir -p "$pgdir" "$sock"
  grant_reach
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$sock"
  if [ ! -f "$cluster/PG_VERSION" ]; then
    echo "pg.sh: creating a private PostgreSQL cluster in $cluster"
    as_owner "'$bindir/initdb' -D '$cluster' -A trust -U postgres --no-sync -E UTF8 >'$pgdir/initdb.log' 2>&1" ||
      { cat "$pgdir/initdb.log" >&2; exit 1; }
  fi
  if as_owner "'$bindir/pg_ctl' -D '$cluster' status" >/dev/null 2>&1; then
    return 0
  fi
  as_owner "'$bindir/pg_ctl' -D '$cluster' -l '$pgdir/server.log' -w -t 60 \
    -o \"-p $port -k '$sock' -c listen_addresses='' -c fsync=${INFICOND_PG_FSYNC:-on}\" start" >/dev/null ||
    { tail -n 20 "$pgdir/server.log" >&2; exit 1; }
  echo "pg.sh: PostgreSQL running on $sock (port $port)"
}

stop() {
  [ -f "$cluster/PG_VERSION" ] || return 0
  as_owner "'$bindir/pg_ctl' -D '$cluster' -m fast -w stop" >/dev/null 2>&1 || true
}

url() {
  local db=${1:-inficond}
  if ! as_owner "'$bindir/psql' -h '$sock' -p $port -U postgres -Atqc \"SELECT 1 FROM pg_database WHERE datname = '$db'\" postgres" | grep -q 1; then
    as_owner "'$bindir/createdb' -h '$sock' -p $port -U postgres '$db'"
  fi
  echo "postgresql://postgres@/$db?host=$sock&port=$port"
}

dropdb_() {
  as_owner "'$bindir/dropdb' -h '$sock' -p $port -U postgres --if-exists --force '$1'"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url "${2:-}" ;;
  dropdb) dropdb_ "$2" ;;
  *) echo "usage: scripts/pg.sh start|stop|url [DB]|dropdb DB" >&2; exit 2 ;;
esac
