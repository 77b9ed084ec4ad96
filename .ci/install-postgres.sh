#!/usr/bin/env bash
# Installs what the PostgreSQL store tests (tests/service/, ids `postgresql`) and the benchmarks need:
# Debian's PostgreSQL server binaries with PostGIS. Nothing else: no cluster of the machine is
# created, configured, reloaded or started here. The tests run a server of their own, beside any
# other (.ci/test-postgres.sh: its own data directory, 127.0.0.1:54329, started by `make test` and
# by the tests when it is down).
#
# Non-interactive and idempotent: when the packages are there it does nothing, and needs no root.
# Otherwise it runs apt-get as root, or through sudo. (Debian's package, when first installed, sets
# up and starts its own `main` cluster on port 5432, as it does on any machine; the tests leave it
# alone.)
set -euo pipefail

PGVER="${GEOVERIFY_PG_VERSION:-15}"
PKGS=("postgresql-${PGVER}" "postgresql-${PGVER}-postgis-3")

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-postgres: ${PKGS[*]} are installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-postgres: ${missing[*]} missing and this is not root (and there is no sudo);" \
             "install them by hand, or run the tests with GEOVERIFY_TEST_POSTGRES=0 to skip the" \
             "PostgreSQL cases" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-postgres: installed ${missing[*]}"
