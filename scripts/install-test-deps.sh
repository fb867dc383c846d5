#!/usr/bin/env bash
# Installs what Stepgate's tests need beyond Go: Debian's Chromium for the
# browser tests and nginx for the auth_request test (the tests start their
# own nginx with their own configuration; the system service is not used).
# Safe to run again: it skips what is already installed.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install ${need[*]} with your package manager (the tests look for /usr/bin/chromium or \$CHROMIUM, and nginx on PATH or /usr/sbin/nginx)" >&2
		exit 1
	fi
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		SUDO="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
	# The package starts the system's nginx on port 80; the tests do not
	# need it.
	if [[ " ${need[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null 2>&1; then
		$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
	fi
fi
echo "chromium: $(chromium --version 2>/dev/null || echo installed)"
echo "nginx: $( (/usr/sbin/nginx -v || nginx -v) 2>&1 | head -1)"
