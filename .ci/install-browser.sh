#!/usr/bin/env bash
# Installs the browser of the map page tests (tests/browser/): Debian's chromium, and CJK fonts so
# that screenshots show the Chinese interface. Does nothing when /usr/bin/chromium is there.
# Non-interactive; runs as root, or through sudo when that is available.
set -euo pipefail

CHROMIUM="${GEOVERIFY_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    echo "install-browser: $CHROMIUM is present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser: $CHROMIUM is missing and this is not root (and there is no sudo);" \
             "install Debian's chromium and fonts-noto-cjk, or set GEOVERIFY_CHROMIUM" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk
"$CHROMIUM" --version
