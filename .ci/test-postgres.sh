#!/usr/bin/env bash
# The PostgreSQL server of the tests and benchmarks: a cluster of its own (its own data directory,
# port and settings), made with initdb and run with pg_ctl from Debian's packages
# (.ci/install-postgres.sh installs them). It touches nothing else: the machine's own clusters
# (pg_lsclusters, /etc/postgresql) are neither read nor changed, and it can run beside them.
#
#   bash .ci/test-postgres.sh start        create the cluster the first time, start it if it is down,
#                                          and make the test role and template database; idempotent
#   bash .ci/test-postgres.sh stop         stop it (the data directory stays for the next start)
#   bash .ci/test-postgres.sh status       say whether it runs; exit 0 when it does
#   bash .ci/test-postgres.sh url          print the tests' URL of its template database
#   bash .ci/test-postgres.sh run -- CMD…  start it if it is down, run CMD, then stop it again if this
#                                          call started it; exits with CMD's status (make test, CI)
#   bash .ci/test-postgres.sh destroy      stop it and delete its data directory
#
# Settings (environment):
#   GEOVERIFY_TEST_PG_PORT     port on 127.0.0.1 (default 54329; tests/service/postgres.py reads it too)
#   GEOVERIFY_TEST_PG_DIR      data directory (default ${TMPDIR:-/tmp}/geoverify-test-pg-$PORT)
#   GEOVERIFY_PG_VERSION       the PostgreSQL major version whose binaries to use (default: 15 if
#                              installed, else the newest under /usr/lib/postgresql)
#
# The server refuses to run as root, so as root the cluster belongs to the `postgres` user (made by
# Debian's package) and every server command runs as that user; as anyone else it is theirs.
# It holds throwaway test databases only: fsync and synchronous commit are off.
set -euo pipefail

PORT="${GEOVERIFY_TEST_PG_PORT:-54329}"
DATA="$(realpath -m "${GEOVERIFY_TEST_PG_DIR:-${TMPDIR:-/tmp}/geoverify-test-pg-${PORT}}")"
ROLE=geoverify
PASSWORD=geoverify
DB=geoverify_test
URL="postgresql+psycopg://${ROLE}:${PASSWORD}@127.0.0.1:${PORT}/${DB}"
SUPERUSER=postgres

die() { echo "test-postgres: $*" >&2; exit 1; }

bindir() {
    local version="${GEOVERIFY_PG_VERSION:-}"
    if [ -z "$version" ]; then
        if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
            version=15
        else
            version="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)"
        fi
    fi
    local dir="/usr/lib/postgresql/${version}/bin"
    [ -n "$version" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] \
        || die "no PostgreSQL server binaries in /usr/lib/postgresql${version:+/$version}/bin; run" \
               "'bash .ci/install-postgres.sh' (as root) or set GEOVERIFY_TEST_POSTGRES=0 to skip the" \
               "PostgreSQL cases"
    echo "$dir"
}

# Run a command as the cluster's owner: `postgres` when this is root, else this user.
if [ "$(id -u)" -eq 0 ]; then
    id -u postgres >/dev/null 2>&1 || die "there is no 'postgres' user; run 'bash .ci/install-postgres.sh'"
    # From /: the postgres user may not be able to enter this checkout (e.g. under /root).
    as_owner() { (cd / && runuser -u postgres -- "$@"); }
else
    as_owner() { "$@"; }
fi

running() {
    [ -f "$DATA/PG_VERSION" ] || return 1
    as_owner "$(bindir)/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

psql_su() {
    as_owner "$(bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$DATA" -p "$PORT" -U "$SUPERUSER" "$@"
}

start() {
    local bin
    bin="$(bindir)"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        mkdir -p "$DATA"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$DATA"
        chmod 700 "$DATA"
        # Local (Unix socket) connections: the owner only (the socket lives in the 0700 data
        # directory); TCP on loopback: password. Any user may create and connect to the folder's
        # parent (/tmp), so make sure the directory is still ours before initdb writes into it.
        as_owner "$bin/initdb" -D "$DATA" -U "$SUPERUSER" -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >"$DATA.initdb.log" 2>&1 \
            || { cat "$DATA.initdb.log" >&2; die "initdb failed in $DATA"; }
        rm -f "$DATA.initdb.log"
        as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<CONF

# Written by geoverify's .ci/test-postgres.sh: a throwaway test server on loopback.
listen_addresses = '127.0.0.1'
port = ${PORT}
unix_socket_directories = '${DATA}'
# The tests create and drop one database per test: nothing here needs to survive a crash.
fsync = off
synchronous_commit = off
full_page_writes = off
# Test databases live for one test: autovacuum would only get in the way of dropping them.
autovacuum = off
max_connections = 200
logging_collector = off
CONF
    fi
    if ! running; then
        as_owner "$bin/pg_ctl" start -D "$DATA" -l "$DATA/server.log" -w -t 60 >/dev/null \
            || { tail -n 20 "$DATA/server.log" >&2 || true; die "the server in $DATA did not start (port $PORT in use?)"; }
    fi
    psql_su -d postgres <<SQL
SET client_min_messages = warning;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${ROLE}') THEN
    CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}';
  END IF;
END \$\$;
-- DROP DATABASE ... WITH (FORCE) of a test database ends any session still connected to it.
GRANT pg_signal_backend TO ${ROLE};
SQL
    if ! psql_su -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '${DB}'" | grep -q 1; then
        psql_su -d postgres -c "CREATE DATABASE ${DB} OWNER ${ROLE}"
        psql_su -d "$DB" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis" \
            || die "cannot create the postgis extension; run 'bash .ci/install-postgres.sh' (as root)"
        # A template lets the tests copy it (CREATE DATABASE ... TEMPLATE) in a few tens of milliseconds.
        psql_su -d postgres -c "ALTER DATABASE ${DB} WITH IS_TEMPLATE true"
    fi
    echo "test-postgres: PostgreSQL $(psql_su -d "$DB" -tAc 'SHOW server_version') with PostGIS" \
         "$(psql_su -d "$DB" -tAc 'SELECT postgis_lib_version()') on 127.0.0.1:${PORT} (data: ${DATA})" >&2
}

stop() {
    if running; then
        as_owner "$(bindir)/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null
        echo "test-postgres: stopped the server on 127.0.0.1:${PORT}" >&2
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if running; then echo "running on 127.0.0.1:${PORT} (data: ${DATA})"; else echo "not running"; exit 3; fi ;;
    url) echo "$URL" ;;
    run)
        shift
        [ "${1:-}" = "--" ] && shift
        [ $# -gt 0 ] || die "run needs a command: run -- CMD ARGS…"
        started=0
        if ! running; then start; started=1; fi
        status=0
        "$@" || status=$?
        if [ "$started" -eq 1 ]; then stop; fi
        exit "$status" ;;
    destroy)
        stop
        rm -rf "$DATA" ;;
    *)
        echo "usage: bash .ci/test-postgres.sh start|stop|status|url|run -- CMD…|destroy" >&2
        exit 2 ;;
esac
