#!/usr/bin/env bash
# Installs PostgreSQL with PostGIS from Debian's packages, starts a server on loopback and creates
# the test role and template database of the PostgreSQL store tests (tests/service/, ids
# `postgresql`). Non-interactive and idempotent: a second run installs nothing, starts the server
# only if it is down and leaves the role and databases as they are. Runs as root, or through sudo.
#
# The tests connect to $GEOVERIFY_TEST_POSTGRES_URL, by default
#     postgresql+psycopg://geoverify:geoverify@127.0.0.1:5432/geoverify_test
# (GEOVERIFY_PG_PORT and GEOVERIFY_PG_CLUSTER choose another port and cluster than 5432 and main)
# and create one fresh database per test from the template geoverify_test (which holds the postgis
# extension), so the role may create databases.
set -euo pipefail

PGVER="${GEOVERIFY_PG_VERSION:-15}"
PGPORT="${GEOVERIFY_PG_PORT:-5432}"
CLUSTER="${GEOVERIFY_PG_CLUSTER:-main}"
ROLE=geoverify
PASSWORD=geoverify
DB=geoverify_test
URL="postgresql+psycopg://${ROLE}:${PASSWORD}@127.0.0.1:${PGPORT}/${DB}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-postgres: this is not root (and there is no sudo); install Debian's" \
             "postgresql and postgresql-${PGVER}-postgis-3 by hand, or run the tests with" \
             "GEOVERIFY_TEST_POSTGRES=0 to skip the PostgreSQL cases" >&2
        exit 1
    fi
fi

# 1. Packages (only when something is missing).
PKGS=(postgresql "postgresql-${PGVER}" "postgresql-${PGVER}-postgis-3")
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. A cluster owned by the postgres user, listening on loopback only.
if ! $SUDO pg_lsclusters -h | awk -v v="$PGVER" -v c="$CLUSTER" '$1 == v && $2 == c' | grep -q .; then
    $SUDO pg_createcluster "$PGVER" "$CLUSTER" --port "$PGPORT" -- --auth-local=peer --auth-host=scram-sha-256
fi
# Settings go into conf.d (included by Debian's postgresql.conf). The tests create and drop one
# database per test: no need to flush them to disk.
CONF="/etc/postgresql/${PGVER}/${CLUSTER}/conf.d/geoverify-test.conf"
$SUDO mkdir -p "$(dirname "$CONF")"
$SUDO tee "$CONF" >/dev/null <<CONF
# Written by geoverify's .ci/install-postgres.sh: a throwaway test server on loopback.
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
# Test databases live for one test: autovacuum would only get in the way of dropping them.
autovacuum = off
CONF
if $SUDO pg_lsclusters -h | awk -v v="$PGVER" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}' | grep -q online; then
    $SUDO pg_ctlcluster "$PGVER" "$CLUSTER" reload
else
    $SUDO pg_ctlcluster "$PGVER" "$CLUSTER" start
fi

# 3. Role and template database with PostGIS (psql as the postgres user: the server refuses root).
as_postgres() { $SUDO runuser -u postgres -- "$@"; }
psql_pg() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT" "$@"; }
for _ in $(seq 1 30); do
    as_postgres pg_isready -q -p "$PGPORT" && break
    sleep 1
done
psql_pg -d postgres <<SQL
SET client_min_messages = warning;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${ROLE}') THEN
    CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}';
  ELSE
    ALTER ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}';
  END IF;
END \$\$;
-- DROP DATABASE ... WITH (FORCE) of a test database ends any session still connected to it.
GRANT pg_signal_backend TO ${ROLE};
SQL
if ! psql_pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '${DB}'" | grep -q 1; then
    psql_pg -d postgres -c "CREATE DATABASE ${DB} OWNER ${ROLE}"
fi
psql_pg -d "$DB" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis"
# A template lets the tests copy it (CREATE DATABASE ... TEMPLATE) in a few tens of milliseconds.
psql_pg -d postgres -c "ALTER DATABASE ${DB} WITH IS_TEMPLATE true"

echo "install-postgres: PostgreSQL $(psql_pg -d "$DB" -tAc 'SHOW server_version') with PostGIS" \
     "$(psql_pg -d "$DB" -tAc 'SELECT postgis_lib_version()') on 127.0.0.1:${PGPORT}"
echo "$URL"
