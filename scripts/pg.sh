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
#
# Private means private: the socket folder is 0700 (only the cluster's owner, and
# root, can reach the socket) and the only way in is peer authentication mapped to
# the database user `postgres` for exactly two system users: the one running this
# script (the service's user) and the cluster's owner. Any other local user is
# refused, even if it reached the socket. pg_hba.conf and pg_ident.conf are
# rewritten at every start, so a cluster made by an older pg.sh (trust) is closed too.
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

owner_name() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }

# Only the service's system user and the cluster's owner, as database user postgres.
write_auth() {
  local me owner
  me=$(id -un)
  owner=$(owner_name)
  as_owner "cat >'$cluster/pg_hba.conf'" <<HBA
# Written by scripts/pg.sh at every start: Unix socket only, peer authentication,
# system users mapped by pg_ident.conf (map inficond).
local all all peer map=inficond
HBA
  as_owner "cat >'$cluster/pg_ident.conf'" <<IDENT
# Written by scripts/pg.sh at every start.
inficond $me postgres
inficond $owner postgres
IDENT
}

start() {
  mkdir -p "$pgdir" "$sock"
  grant_reach
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$sock"
  chmod 0700 "$sock"
  if [ ! -f "$cluster/PG_VERSION" ]; then
    echo "pg.sh: creating a private PostgreSQL cluster in $cluster"
    as_owner "'$bindir/initdb' -D '$cluster' -A peer -U postgres --no-sync -E UTF8 >'$pgdir/initdb.log' 2>&1" ||
      { cat "$pgdir/initdb.log" >&2; exit 1; }
  fi
  write_auth
  if as_owner "'$bindir/pg_ctl' -D '$cluster' status" >/dev/null 2>&1; then
    as_owner "'$bindir/pg_ctl' -D '$cluster' reload" >/dev/null
    return 0
  fi
  as_owner "'$bindir/pg_ctl' -D '$cluster' -l '$pgdir/server.log' -w -t 60 \
    -o \"-p $port -k '$sock' -c listen_addresses='' -c unix_socket_permissions=0700 -c fsync=${INFICOND_PG_FSYNC:-on}\" start" >/dev/null ||
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
