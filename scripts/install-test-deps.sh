#!/usr/bin/env bash
# Installs what Stepgate's tests need beyond Go: Debian's Chromium for the
# browser tests, nginx for the auth_request test (the tests start their
# own nginx with their own configuration; the system service is not used)
# and PostgreSQL for the store tests (its cluster is started, with a role
# and a database the tests make their schemas in) and OpenLDAP for the
# LDAP directory tests: a private slapd of the tests' own (its
# configuration and tree are in scripts/ldap/), not the system's, and
# axe-core (from npm, with Debian's node and npm) for the browser tests'
# accessibility check of every portal page. Safe to run again: it skips
# what is already installed and running.
set -euo pipefail

need=()
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapwhoami >/dev/null 2>&1 || need+=(ldap-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install ${need[*]} with your package manager (the tests look for /usr/bin/chromium or \$CHROMIUM, and nginx on PATH or /usr/sbin/nginx)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# (env: sudo would drop DEBIAN_FRONTEND, and slapd's debconf asks.)
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
	# The package starts the system's nginx on port 80; the tests do not
	# need it.
	if [[ " ${need[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null 2>&1; then
		$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
	fi
fi
echo "chromium: $(chromium --version 2>/dev/null || echo installed)"
echo "nginx: $( (/usr/sbin/nginx -v || nginx -v) 2>&1 | head -1)"

# axe-core: a pinned version in a fixed directory outside the repository,
# /opt/stepgate-test/axe-core when run as root (as CI does), else
# ~/.cache/stepgate-test/axe-core; the browser tests read its axe.min.js
# from there (or from $AXE_CORE, the file's path). Skipped when that
# version is already there.
axever=4.14.1
if [ "$(id -u)" -eq 0 ]; then
	axedir=/opt/stepgate-test/axe-core
else
	axedir="$HOME/.cache/stepgate-test/axe-core"
fi
axepkg="$axedir/node_modules/axe-core"
if [ "$(node -p "require('$axepkg/package.json').version" 2>/dev/null)" != "$axever" ] || [ ! -s "$axepkg/axe.min.js" ]; then
	mkdir -p "$axedir"
	npm install --prefix "$axedir" --no-audit --no-fund --loglevel=error "axe-core@$axever" >/dev/null
fi
echo "axe-core: $(node -p "require('$axepkg/package.json').version") ($axepkg/axe.min.js)"

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

# OpenLDAP: a private slapd for the LDAP tests, run as the current user
# with its own cn=config and database in one instance directory:
# /var/lib/stepgate-test-ldap when run as root (as CI does), else
# ~/.cache/stepgate-test-ldap (gatewaytest.LDAPCA looks in both). The
# system slapd that the package may start, on port 389, is not used. Ours
# listens on ldap://127.0.0.1:3389 (StartTLS) and ldaps://127.0.0.1:3636
# with a certificate for 127.0.0.1 and localhost from a test CA made here,
# whose certificate the tests read from <instance dir>/ca.pem. Base
# dc=stepgate,dc=test, root DN cn=admin,dc=stepgate,dc=test (password
# admin-secret); the configuration and entries are scripts/ldap/*.ldif. A
# running instance is left alone, a stopped one is started, and one that
# is half made (no "ready" file) or does not start is made again.
if [ "$(id -u)" -eq 0 ]; then
	ldapdir=/var/lib/stepgate-test-ldap
else
	ldapdir="$HOME/.cache/stepgate-test-ldap"
fi
ldapsrc="$(cd "$(dirname "$0")" && pwd)/ldap"
ldapadmin="cn=admin,dc=stepgate,dc=test"
ldapurls="ldap://127.0.0.1:3389/ ldaps://127.0.0.1:3636/"
# ldap_answers: our slapd answers StartTLS (with our CA) and the admin bind.
ldap_answers() {
	[ -f "$ldapdir/ca.pem" ] &&
		LDAPTLS_CACERT="$ldapdir/ca.pem" ldapwhoami -x -ZZ -H ldap://127.0.0.1:3389 \
			-D "$ldapadmin" -w admin-secret >/dev/null 2>&1
}
# ldap_stop stops our slapd, if its pid file names one (after a reboot the
# number may be another process's): it removes that file when it exits.
ldap_stop() {
	local pid
	pid=$(cat "$ldapdir/slapd.pid" 2>/dev/null) || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-F $ldapdir/slapd.d" || return 0
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		[ -f "$ldapdir/slapd.pid" ] && kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -9 "$pid" 2>/dev/null || true
}
ldap_start() {
	/usr/sbin/slapd -h "$ldapurls" -F "$ldapdir/slapd.d" >/dev/null 2>&1 || return 1
	for _ in $(seq 50); do ldap_answers && return 0; sleep 0.2; done
	return 1
}
# ldap_build makes the instance anew: certificates, configuration, tree
# (with slapadd, offline), then starts slapd and adds the groups online.
ldap_build() {
	local log="$ldapdir/build.log"
	# (Called under "if", where set -e does nothing: hence the &&.)
	rm -rf "$ldapdir" &&
		mkdir -p "$ldapdir/slapd.d" "$ldapdir/data" &&
		chmod 755 "$ldapdir" && chmod 700 "$ldapdir/slapd.d" "$ldapdir/data" || return 1
	(
		cd "$ldapdir" && umask 077 &&
			openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Stepgate test LDAP CA" \
				-config "$ldapsrc/cert.cnf" -extensions ca -keyout ca.key -out ca.pem &&
			openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" \
				-config "$ldapsrc/cert.cnf" -keyout server.key -out server.csr &&
			openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
				-days 3650 -extfile "$ldapsrc/cert.cnf" -extensions server -out server.pem &&
			rm ca.key server.csr && chmod 644 ca.pem server.pem &&
			sed "s|@DIR@|$ldapdir|g" "$ldapsrc/config.ldif" >config.ldif &&
			/usr/sbin/slapadd -n0 -F slapd.d -l config.ldif &&
			/usr/sbin/slapadd -n1 -F slapd.d -l "$ldapsrc/tree.ldif"
	) >"$log" 2>&1 && ldap_start &&
		LDAPTLS_CACERT="$ldapdir/ca.pem" ldapadd -x -ZZ -H ldap://127.0.0.1:3389 \
			-D "$ldapadmin" -w admin-secret -f "$ldapsrc/groups.ldif" >>"$log" 2>&1 &&
		touch "$ldapdir/ready" || { cat "$log" >&2; return 1; }
}
if ! ldap_answers && ! { [ -f "$ldapdir/ready" ] && ldap_start; }; then
	ldap_stop
	if ! ldap_build; then
		ldap_stop
		echo "slapd: could not make the test instance in $ldapdir; to see why, run: /usr/sbin/slapd -d 256 -h \"$ldapurls\" -F $ldapdir/slapd.d" >&2
		exit 1
	fi
fi
echo "slapd: OpenLDAP $(/usr/sbin/slapd -VV 2>&1 | sed -n 's/.*OpenLDAP: slapd \([0-9.]*\).*/\1/p') on ldap://127.0.0.1:3389 and ldaps://127.0.0.1:3636 (dc=stepgate,dc=test, CA $ldapdir/ca.pem)"
