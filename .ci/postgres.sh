#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the registry tests and print the variable that points
# the tests at it:   eval "$(bash .ci/postgres.sh)"
# Idempotent: installs Debian's postgresql only if initdb/pg_ctl are missing, reuses a cluster
# already running on the port. Diagnostics go to stderr; stdout carries only the export line.
set -euo pipefail

PORT="${CLPBERT_PG_PORT:-55432}"
DB=clpbert_test
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/${DB}"
DATA="${CLPBERT_PG_DATA:-${TMPDIR:-/tmp}/clpbert-pg-${PORT}}"

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
    local name=$1 p
    for p in /usr/lib/postgresql/*/bin/"$name"; do
        [ -x "$p" ] && { dirname "$p"; return 0; }
    done
    p=$(command -v "$name" 2>/dev/null) && { dirname "$(readlink -f "$p")"; return 0; }
    return 1
}

BIN=$(find_bin initdb || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
    log "installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN=$(find_bin initdb)
fi

# root cannot run the server: everything below runs as the postgres user.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

if as_pg "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
    log "reusing the server on 127.0.0.1:$PORT"
else
    if [ ! -f "$DATA/PG_VERSION" ]; then
        log "creating a cluster in $DATA"
        mkdir -p "$DATA"
        [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
        chmod 700 "$DATA"
        as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust --no-sync >/dev/null
    fi
    mkdir -p "$DATA/sock"
    [ "$(id -u)" = 0 ] && chown postgres: "$DATA/sock"
    log "starting the server on 127.0.0.1:$PORT"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DATA/sock -c fsync=off -c full_page_writes=off" \
        start >/dev/null
fi

if ! as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi
log "ready: $URL"
echo "export CLPBERT_TEST_PG_URL=$URL"
