#!/usr/bin/env bash
# Installs what Stepgate's tests need beyond Go: Debian's Chromium for the
# browser tests. Safe to run again: it skips what is already installed.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
	echo "chromium: $(chromium --version 2>/dev/null || echo installed)"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install Chromium with your package manager (the tests look for /usr/bin/chromium or \$CHROMIUM)" >&2
	exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium
echo "chromium: $(chromium --version 2>/dev/null || echo installed)"
