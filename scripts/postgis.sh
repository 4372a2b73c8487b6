#!/usr/bin/env bash
# Start planwatch's local PostGIS server, idempotently, and print its DSN on the last line.
#
# - Installs Debian's postgresql-15-postgis-3 if it is missing (apt-get update first, once).
# - Creates its own cluster in $PLANWATCH_PGDATA (default /var/lib/planwatch-pg), owned by the
#   postgres user: initdb refuses to run as root, so every server command runs as postgres.
# - Listens on 127.0.0.1 only, port $PLANWATCH_PG_PORT (default 54329), with the socket in the
#   cluster folder. Authentication is `trust` for loopback connections only: this is the test and
#   laptop server; a shared deployment sets its own pg_hba.conf and passwords.
# - Creates the database `planwatch` with the postgis extension.
# Already running: changes nothing, prints the DSN.  Usage: bash scripts/postgis.sh [stop]
set -euo pipefail

PG_VERSION=15
PORT=${PLANWATCH_PG_PORT:-54329}
PGDATA=${PLANWATCH_PGDATA:-/var/lib/planwatch-pg}
DB=planwatch
BIN=/usr/lib/postgresql/$PG_VERSION/bin
DSN="postgresql://postgres@127.0.0.1:$PORT/$DB"

as_postgres() {
  if [ "$(id -un)" = postgres ]; then
    "$@"
  elif [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    sudo -u postgres -- "$@"
  fi
}

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! dpkg -s postgresql-$PG_VERSION-postgis-3 >/dev/null 2>&1 || [ ! -x "$BIN/initdb" ]; then
  echo "postgis: installing postgresql-$PG_VERSION-postgis-3 (Debian)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "postgresql-$PG_VERSION-postgis-3" >/dev/null
fi

if [ "${1:-}" = stop ]; then
  if [ -f "$PGDATA/postmaster.pid" ]; then as_postgres "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >&2; fi
  exit 0
fi

if [ ! -f "$PGDATA/PG_VERSION" ]; then
  echo "postgis: creating the cluster in $PGDATA" >&2
  $SUDO mkdir -p "$PGDATA"
  $SUDO chown postgres:postgres "$PGDATA"
  $SUDO chmod 700 "$PGDATA"
  as_postgres "$BIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=trust >/dev/null
  # Loopback only; settings sized for the 2-core / 24 GiB machine the benchmarks run on.
  as_postgres tee -a "$PGDATA/postgresql.conf" >/dev/null <<EOF

# planwatch (scripts/postgis.sh)
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGDATA'
shared_buffers = 1GB
work_mem = 256MB
maintenance_work_mem = 512MB
max_parallel_workers_per_gather = 2
synchronous_commit = off
jit = off
EOF
fi

if ! as_postgres "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  echo "postgis: starting PostgreSQL $PG_VERSION on 127.0.0.1:$PORT" >&2
  as_postgres "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null
fi

psql_() { as_postgres "$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  psql_ -d postgres -c "CREATE DATABASE $DB" >/dev/null
fi
psql_ -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null 2>&1 || psql_ -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis"
echo "$DSN"
