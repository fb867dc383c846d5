#!/usr/bin/env bash
# Runs every test (unit, integration through Caddy, Chromium, the attack
# suite), then each fuzz target for FUZZTIME (default 20s; FUZZTIME=0 skips
# fuzzing). The first fuzzing run compiles instrumented binaries: about two
# minutes more.
set -euo pipefail
cd "$(dirname "$0")/.."

go test ./...

fuzztime=${FUZZTIME:-20s}
if [ "$fuzztime" = 0 ]; then
	exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		if go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" >"$log" 2>&1; then
			# The last progress line has the number of executions.
			echo "fuzz $pkg $target: $(grep -o 'execs: [0-9]*' "$log" | tail -1)"
		else
			cat "$log"
			echo "FAIL: fuzz $pkg $target (the failing input is under $pkg's testdata/fuzz/$target)"
			exit 1
		fi
	done
done
