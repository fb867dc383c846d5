#!/usr/bin/env bash
# Installs what Stepgate's tests need beyond Go: Debian's Chromium for the
# browser tests, nginx for the auth_request test (the tests start their
# own nginx with their own configuration; the system service is not used)
# and PostgreSQL for the store tests (its cluster is started, with a role
# and a database the tests make their schemas in). Safe to run again: it
# skips what is already installed and running.
set -euo pipefail

need=()
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install ${need[*]} with your package manager (the tests look for /usr/bin/chromium or \$CHROMIUM, and nginx on PATH or /usr/sbin/nginx)" >&2
		exit 1
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

# PostgreSQL: the newest installed server's "main" cluster, started, with
# the role and database of the tests' default URL (gatewaytest.PostgresServer).
pgver=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$pgver main"; then
	$SUDO pg_createcluster "$pgver" main >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^$pgver main .* online"; then
	$SUDO pg_ctlcluster "$pgver" main start
fi
if [ "$(id -u)" -eq 0 ]; then
	pgsql() { su postgres -c "psql -qAt -c \"$1\""; }
else
	pgsql() { sudo -u postgres psql -qAt -c "$1"; }
fi
for _ in $(seq 30); do pgsql "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
if [ "$(pgsql "SELECT 1 FROM pg_roles WHERE rolname = 'stepgate'")" != 1 ]; then
	pgsql "CREATE ROLE stepgate LOGIN PASSWORD 'stepgate'"
fi
if [ "$(pgsql "SELECT 1 FROM pg_database WHERE datname = 'stepgate_test'")" != 1 ]; then
	pgsql "CREATE DATABASE stepgate_test OWNER stepgate"
fi
echo "postgresql: $(pgsql "SHOW server_version") (cluster $pgver main, database stepgate_test)"
