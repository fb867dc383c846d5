#!/usr/bin/env bash
# Load-test Stepgate against Caddy's own baselines with wrk. See bench/README.md.
#
#   bench/run.sh                      # 3 rounds × 10 s per scenario
#   ROUNDS=5 DURATION=15 bench/run.sh
#   PROFILE=1 bench/run.sh            # also CPU profiles of the Caddys of the stepgate,
#                                     # forward_auth and stepgate_forward_auth scenarios
#   RUSH_SECONDS=30 bench/run.sh      # a shorter 9 o'clock phase
#   MULTI=0 bench/run.sh              # skip the several-instances phase
#   PG_URL=postgres://… bench/run.sh  # its PostgreSQL (default: the tests' database)
#
# Every server (each scenario's Caddy, the upstream, the forward-auth service)
# runs pinned to core 0 and wrk to core 1, so the server core is the one that
# saturates. Scenarios run interleaved (A B C D E, A B C D E, …) and every
# ratio is taken against the plain proxy measured in the same round (and
# stepgate_forward_auth's also against forward_auth's). Each run also records
# the CPU time every server process used, reported per request.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
FLOOD_CLIENTS=${FLOOD_CLIENTS:-20}
PROFILE=${PROFILE:-}
SCENARIOS=${SCENARIOS:-proxy stepgate forward_auth stepgate_forward_auth basic_auth respond}
FLOOD=${FLOOD:-1}
COOLDOWN=${COOLDOWN:-20}
PASSWORD_CPU=${PASSWORD_CPU:-}
RUSH=${RUSH:-1}
RUSH_PEOPLE=${RUSH_PEOPLE:-100}
RUSH_SECONDS=${RUSH_SECONDS:-60}
OUT=${OUT:-}
MULTI=${MULTI:-1}
PG_URL=${PG_URL:-postgres://stepgate:stepgate@127.0.0.1:5432/stepgate_test?sslmode=disable}

cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
	echo "run.sh: installing wrk (Debian package)" >&2
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null
	else
		sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
	fi
fi
# The several-instances phase needs PostgreSQL (scripts/install-test-deps.sh
# starts the one of the default URL) and psql to make a schema in it.
if [ "$MULTI" = 1 ] && ! { command -v psql >/dev/null && psql "$PG_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; }; then
	echo "run.sh: no PostgreSQL at $PG_URL (or no psql): the several-instances phase is skipped (set PG_URL, or MULTI=0 to say so)" >&2
	MULTI=0
fi
for tool in go curl ss; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

SRV=() LOAD=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	SRV=(taskset -c 0)
	LOAD=(taskset -c 1)
else
	echo "run.sh: fewer than 2 cores (or no taskset): server and load generator share the CPU, ratios are less reliable" >&2
fi

# A server left over on one of our ports would be measured instead of ours.
for port in 9101 9102 9103 9111 9112 9113 9114 9115 9116 9130 9131 9132 9133 9134 9135 9190 9191 9192 9193; do
	if ss -Hltn "sport = :$port" | grep -q .; then
		echo "run.sh: port $port is already in use (a previous run still going?); stop that process first" >&2
		exit 1
	fi
done

work=$(mktemp -d /tmp/stepgate-bench.XXXXXX)
OUT=${OUT:-$work/results}
mkdir -p "$OUT"
pids=()
schema=
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -z "$schema" ] || psql "$PG_URL" -qAtc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "building stepgate and benchkit…" >&2
go build -o "$work/stepgate" ./cmd/stepgate
go build -o "$work/benchkit" ./bench/cmd/benchkit
export XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config

# start NAME CMD… runs a server pinned to the server core, logging to $work/NAME.log.
start() {
	local name=$1
	shift
	"${SRV[@]}" "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
}

# ready URL waits until something answers at URL.
ready() {
	for _ in $(seq 100); do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "run.sh: nothing answers at $1; logs in $work" >&2
	exit 1
}

PASSWORD=bench-password-$RANDOM$RANDOM
FWDKEY=bench-forward-auth-key-$RANDOM$RANDOM
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

start upstream "$work/benchkit" upstream -addr 127.0.0.1:9101
start fwdauth "$work/benchkit" fwdauth -addr 127.0.0.1:9102 -key "$FWDKEY"

"$work/stepgate" user add alice --users-file "$work/alice.yaml" --password-stdin <<<"$PASSWORD" >/dev/null
# The people of the 9 o'clock phase: user001 … with the same password.
"$work/benchkit" users -file "$work/users.yaml" -n "$RUSH_PEOPLE" -password "$PASSWORD" -extra "$work/alice.yaml"
BCRYPT=$("$work/benchkit" bcrypt -password "$PASSWORD")

# Every proxy transport keeps enough idle connections for all wrk clients:
# Caddy's default of 32 per host would make reverse_proxy reconnect at 64.
TRANSPORT="transport http {
			keepalive_idle_conns_per_host 1024
		}"

# profiled NAME prints the admin port of a Caddy that PROFILE=1 profiles.
profiled() {
	case $1 in
	stepgate) echo 9190 ;;
	stepgate_authz) echo 9191 ;;
	stepgate_forward_auth) echo 9192 ;;
	forward_auth) echo 9193 ;;
	esac
}

# caddyfile NAME PORT GLOBAL SITE [ADDRESS] writes and starts one Caddy
# (a scenario's, or the Stepgate that stepgate_forward_auth asks), its
# site at ADDRESS (default http://127.0.0.1:PORT).
caddyfile() {
	local name=$1 port=$2 global=$3 site=$4 address=${5:-http://127.0.0.1:$2} admin="admin off"
	if [ -n "$PROFILE" ] && [ -n "$(profiled "$name")" ]; then admin="admin 127.0.0.1:$(profiled "$name")"; fi
	cat >"$work/$name.Caddyfile" <<EOF
{
	$admin
	auto_https off
	storage file_system $work/caddy-$name
	$global
}

$address {
	$site
}
EOF
	start "$name" "$work/stepgate" run --config "$work/$name.Caddyfile" --adapter caddyfile
	eval "port_$name=$port"
}

case " $SCENARIOS " in *" proxy "*) ;; *) echo "run.sh: SCENARIOS must include proxy, the baseline" >&2; exit 1 ;; esac
for name in $SCENARIOS; do
	case $name in proxy | stepgate | forward_auth | stepgate_forward_auth | basic_auth | respond) ;;
	*) echo "run.sh: unknown scenario $name" >&2; exit 1 ;; esac
done
echo "$SCENARIOS" | tr ' ' '\n' | grep . >"$OUT/r-scenarios"
caddyfile proxy 9111 "" "reverse_proxy 127.0.0.1:9101 {
		$TRANSPORT
	}"
caddyfile stepgate 9112 "stepgate {
		users_file $work/users.yaml
		secret $SECRET
		store sqlite $work/state.db
		registration first_sign_in
		${PASSWORD_CPU:+password_cpu $PASSWORD_CPU}
	}" "stepgate
	reverse_proxy 127.0.0.1:9101 {
		$TRANSPORT
	}"
caddyfile forward_auth 9113 "" "forward_auth 127.0.0.1:9102 {
		uri /auth
		copy_headers Remote-User
		$TRANSPORT
	}
	reverse_proxy 127.0.0.1:9101 {
		$TRANSPORT
	}"
# stepgate_forward_auth: the README's Caddy forward_auth set-up. A second
# Caddy runs Stepgate on 9103 (same secret and users as the stepgate
# scenario, so the same session cookie is valid there; its own store) and
# answers only the trusted proxy on 127.0.0.1; the front sends
# /.stepgate/* to it and asks its endpoint about everything else.
caddyfile stepgate_authz 9103 "servers 127.0.0.1:9103 {
		trusted_proxies static 127.0.0.1/32
	}
	stepgate {
		users_file $work/users.yaml
		secret $SECRET
		store sqlite $work/authz-state.db
	}" "bind 127.0.0.1
	stepgate" "http://:9103"
caddyfile stepgate_forward_auth 9116 "" "handle /.stepgate/* {
		reverse_proxy 127.0.0.1:9103 {
			$TRANSPORT
		}
	}
	handle {
		forward_auth 127.0.0.1:9103 {
			uri /.stepgate/authz/forward-auth?
			copy_headers Remote-User Remote-Groups Remote-Email Remote-Name
			$TRANSPORT
		}
		reverse_proxy 127.0.0.1:9101 {
			$TRANSPORT
		}
	}"
caddyfile basic_auth 9114 "" "basic_auth {
		alice $BCRYPT
	}
	reverse_proxy 127.0.0.1:9101 {
		$TRANSPORT
	}"
caddyfile respond 9115 "" "respond \"bench ceiling: a fixed body about as long as the upstream's answer, so this scenario writes the same bytes as the others, with no proxy and no check in front of it; nothing else.\" 200"

# Several instances: lb_stepgate is a Caddy load balancer (round robin)
# in front of two Stepgates (9131, 9132) that share one PostgreSQL schema,
# the same secret and the same users; lb_proxy is its baseline, the same
# load balancer in front of two plain proxies (9134, 9135). The instances
# trust the balancer's X-Forwarded-For, so each person keeps their address.
if [ "$MULTI" = 1 ]; then
	schema=stepgate_bench_$$_$RANDOM
	psql "$PG_URL" -qAtc "CREATE SCHEMA $schema" >/dev/null
	case $PG_URL in *\?*) STORE_URL="$PG_URL&search_path=$schema" ;; *) STORE_URL="$PG_URL?search_path=$schema" ;; esac
	for inst in a:9131 b:9132; do
		caddyfile "pg_${inst%%:*}" "${inst#*:}" "servers {
		trusted_proxies static 127.0.0.1/32
	}
	stepgate {
		users_file $work/users.yaml
		secret $SECRET
		store postgres \"$STORE_URL\"
		registration first_sign_in
		${PASSWORD_CPU:+password_cpu $PASSWORD_CPU}
	}" "stepgate
	reverse_proxy 127.0.0.1:9101 {
		$TRANSPORT
	}"
	done
	caddyfile lb_stepgate 9130 "" "reverse_proxy 127.0.0.1:9131 127.0.0.1:9132 {
		lb_policy round_robin
		$TRANSPORT
	}"
	for inst in a:9134 b:9135; do
		caddyfile "lbp_${inst%%:*}" "${inst#*:}" "" "reverse_proxy 127.0.0.1:9101 {
		$TRANSPORT
	}"
	done
	caddyfile lb_proxy 9133 "" "reverse_proxy 127.0.0.1:9134 127.0.0.1:9135 {
		lb_policy round_robin
		$TRANSPORT
	}"
	for port in 9130 9131 9132 9133 9134 9135; do ready "http://127.0.0.1:$port/"; done
fi

for port in 9101 9103 9111 9112 9113 9114 9115 9116; do ready "http://127.0.0.1:$port/"; done

# The credentials each scenario's requests carry.
COOKIE=$("$work/benchkit" signin -base http://127.0.0.1:9112 -user alice -password "$PASSWORD")
FWDCOOKIE=$("$work/benchkit" fwdcookie -key "$FWDKEY")
BASIC=$(printf 'alice:%s' "$PASSWORD" | base64 -w0)
# Every scenario gets the same request bytes (all three credentials), so the
# differences are the checks, not header sizes; each ignores what is not its.
HDRS=(-H "Cookie: $COOKIE; $FWDCOOKIE" -H "Authorization: Basic $BASIC")
url() {
	local n=${1%%+*}
	eval "echo http://127.0.0.1:\$port_$n/"
}

# Each scenario must answer 200 with its credentials (and the Stepgate
# ones must refuse without them), or the numbers would measure an error page.
for name in proxy stepgate forward_auth stepgate_forward_auth basic_auth respond; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "${HDRS[@]}" "$(url "$name")")
	[ "$code" = 200 ] || { echo "run.sh: $name answers $code, not 200; logs in $work" >&2; exit 1; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$(url stepgate)")
[ "$code" = 401 ] || [ "$code" = 302 ] || { echo "run.sh: stepgate lets a request without a session through ($code)" >&2; exit 1; }
# Through forward_auth: the upstream's page with the cookie, a browser
# without it sent to the sign-in page (which the front serves), and an API
# client refused.
curl -s "${HDRS[@]}" "$(url stepgate_forward_auth)" | grep -q '"app":"bench upstream"' ||
	{ echo "run.sh: stepgate_forward_auth does not answer with the upstream's page; logs in $work" >&2; exit 1; }
signin_url=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Accept: text/html' "$(url stepgate_forward_auth)")
case $signin_url in
"302 $(url stepgate_forward_auth).stepgate/"*) ;;
*) echo "run.sh: stepgate_forward_auth without a session answers $signin_url, not a 302 to the sign-in page" >&2; exit 1 ;;
esac
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: text/html' "${signin_url#302 }")
[ "$code" = 200 ] || { echo "run.sh: the front's sign-in page answers $code" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$(url stepgate_forward_auth)")
[ "$code" = 401 ] || { echo "run.sh: stepgate_forward_auth answers an API client without a session $code, not 401" >&2; exit 1; }

# The load-balanced scenarios' session is signed in through the balancer,
# so its steps alternate between the two instances.
if [ "$MULTI" = 1 ]; then
	LBCOOKIE=$("$work/benchkit" signin -base http://127.0.0.1:9130 -user alice -password "$PASSWORD")
	LBHDRS=(-H "Cookie: $LBCOOKIE; $FWDCOOKIE" -H "Authorization: Basic $BASIC")
	for name in lb_proxy lb_stepgate; do
		code=$(curl -s -o /dev/null -w '%{http_code}' "${LBHDRS[@]}" "$(url "$name")")
		[ "$code" = 200 ] || { echo "run.sh: $name answers $code, not 200; logs in $work" >&2; exit 1; }
	done
	for port in 9131 9132; do
		code=$(curl -s -o /dev/null -w '%{http_code}' "${LBHDRS[@]}" "http://127.0.0.1:$port/")
		[ "$code" = 200 ] || { echo "run.sh: the instance on $port refuses the balancer's session ($code)" >&2; exit 1; }
	done
	code=$(curl -s -o /dev/null -w '%{http_code}' "$(url lb_stepgate)")
	[ "$code" = 401 ] || { echo "run.sh: lb_stepgate lets a request without a session through ($code)" >&2; exit 1; }
fi

timewait() { ss -Htan state time-wait | wc -l; }

# load NAME SECONDS OUTFILE runs wrk against a scenario.
load() {
	local name=$1 secs=$2 out=$3 hdrs=("${HDRS[@]}")
	case $name in lb_*) hdrs=("${LBHDRS[@]}") ;; esac
	"${LOAD[@]}" wrk -t1 "-c$CONNS" "-d${secs}s" --latency "${hdrs[@]}" "$(url "$name")" >"$out"
}

rss() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# cpus NAME prints the CPU time (user + system, µs) each server process has
# used so far: the scenario's Caddy as "front", then the others by name.
CLK_TCK=$(getconf CLK_TCK)
cpus() {
	local role pid roles="front upstream fwdauth stepgate_authz"
	case $1 in lb_stepgate*) roles="front upstream pg_a pg_b" ;; lb_proxy*) roles="front upstream lbp_a lbp_b" ;; esac
	for role in $roles; do
		if [ "$role" = front ]; then eval "pid=\$pid_${1%%+*}"; else eval "pid=\$pid_$role"; fi
		# The instances are reported as "inst_a" and "inst_b" in both scenarios.
		awk -v role="$role" -v hz="$CLK_TCK" '{sub(/^(pg|lbp)_/, "inst_", role); print role, int(($14 + $15) * 1e6 / hz)}' "/proc/$pid/stat"
	done
}

# measure PHASE ROUND NAME [SECONDS] runs one wrk load and keeps its output,
# the TIME_WAIT sockets it left (connection churn shows up as thousands) and
# the CPU time each server process used meanwhile.
measure() {
	local phase=$1 round=$2 name=$3 secs=${4:-$DURATION} before after cpu0
	before=$(timewait)
	cpu0=$(cpus "$name")
	load "$name" "$secs" "$OUT/$phase$round-$name.wrk"
	paste -d' ' <(echo "$cpu0") <(cpus "$name") | awk '{print $1, $4 - $2}' >"$OUT/$phase$round-$name.cpu"
	after=$(timewait)
	echo $((after > before ? after - before : 0)) >"$OUT/$phase$round-$name.tw"
}

echo "warming up…" >&2
for name in $SCENARIOS; do load "$name" 3 /dev/null; done
[ "$MULTI" != 1 ] || for name in lb_proxy lb_stepgate; do load "$name" 3 /dev/null; done

# Phase r: the scenarios interleaved, round after round.
for round in $(seq "$ROUNDS"); do
	for name in $SCENARIOS; do
		echo "round $round/$ROUNDS: $name" >&2
		profile_pids=()
		if [ -n "$PROFILE" ] && [ "$round" = 1 ]; then
			targets=$name
			[ "$name" != stepgate_forward_auth ] || targets="$name stepgate_authz"
			for t in $targets; do
				[ -n "$(profiled "$t")" ] || continue
				curl -s -o "$OUT/$t.pprof" "http://127.0.0.1:$(profiled "$t")/debug/pprof/profile?seconds=$((DURATION - 2))" &
				profile_pids+=($!)
			done
		fi
		measure r "$round" "$name"
		[ ${#profile_pids[@]} = 0 ] || wait "${profile_pids[@]}"
	done
done
for name in $SCENARIOS; do
	eval "rss \$pid_$name" >"$OUT/$name.rss"
done

# Phase f: the stepgate scenario alone, then while FLOOD_CLIENTS clients post
# wrong passwords as fast as they can. It runs last and rests COOLDOWN
# seconds after each flood, because a flood leaves the process busy for a
# while (returning the hashes' memory) and would tax whatever ran next.
if [ "$FLOOD" = 1 ]; then
	printf 'stepgate\nstepgate+flood\n' >"$OUT/f-scenarios"
	for round in $(seq "$ROUNDS"); do
		echo "flood round $round/$ROUNDS: stepgate, then stepgate+flood" >&2
		measure f "$round" stepgate
		"${LOAD[@]}" "$work/benchkit" flood -base "$(url stepgate)" -c "$FLOOD_CLIENTS" -d "${DURATION}s" >"$OUT/f$round-flood.txt" &
		flood_pid=$!
		measure f "$round" stepgate+flood
		wait "$flood_pid"
		[ "$round" = "$ROUNDS" ] || sleep "$COOLDOWN"
	done
	rss "$pid_stepgate" >"$OUT/stepgate+flood.rss"
fi

# Phase n, 9 o'clock: the stepgate scenario alone for RUSH_SECONDS, then for
# as long again while RUSH_PEOPLE people sign in once each (the whole first
# sign-in: password, then authenticator set-up), each from its own
# loopback address (127.0.0.2, .3, …), their starts spread over the first
# five sixths, and FLOOD_CLIENTS clients on 127.0.0.1 post wrong passwords
# for random names as fast as they are answered.
if [ "$RUSH" = 1 ]; then
	printf 'stepgate\nstepgate+rush\n' >"$OUT/n-scenarios"
	[ "$FLOOD" != 1 ] || sleep "$COOLDOWN"
	echo "9 o'clock: stepgate alone, then with $RUSH_PEOPLE people signing in and $FLOOD_CLIENTS flood clients (${RUSH_SECONDS}s each)" >&2
	measure n 1 stepgate "$RUSH_SECONDS"
	"${LOAD[@]}" "$work/benchkit" flood -base "$(url stepgate)" -c "$FLOOD_CLIENTS" -d "${RUSH_SECONDS}s" >"$OUT/n1-flood.txt" &
	flood_pid=$!
	"${LOAD[@]}" "$work/benchkit" rush -base "$(url stepgate)" -n "$RUSH_PEOPLE" -password "$PASSWORD" \
		-first 127.0.0.2 -spread "$((RUSH_SECONDS * 5 / 6))s" >"$OUT/n1-rush.txt" &
	rush_pid=$!
	measure n 1 stepgate+rush "$RUSH_SECONDS"
	wait "$flood_pid" "$rush_pid"
	rss "$pid_stepgate" >"$OUT/stepgate+rush.rss"
fi

# Phase m, several instances: lb_proxy and lb_stepgate interleaved, round
# after round; then phase p, a 9 o'clock rush through the balancer (every
# person's steps alternate between the instances, so each sign-in is
# started on one and finished on the other, in PostgreSQL).
if [ "$MULTI" = 1 ]; then
	printf 'lb_proxy\nlb_stepgate\n' >"$OUT/m-scenarios"
	[ "$RUSH" != 1 ] || sleep "$COOLDOWN"
	for round in $(seq "$ROUNDS"); do
		for name in lb_proxy lb_stepgate; do
			echo "several instances, round $round/$ROUNDS: $name" >&2
			measure m "$round" "$name"
		done
	done
	for name in lb_proxy lb_stepgate pg_a pg_b; do
		eval "rss \$pid_$name" >"$OUT/$name.rss"
	done
	if [ "$RUSH" = 1 ]; then
		printf 'lb_stepgate\nlb_stepgate+rush\n' >"$OUT/p-scenarios"
		echo "several instances, 9 o'clock: $RUSH_PEOPLE people and $FLOOD_CLIENTS flood clients through the balancer (${RUSH_SECONDS}s)" >&2
		measure p 1 lb_stepgate "$RUSH_SECONDS"
		"${LOAD[@]}" "$work/benchkit" flood -base "$(url lb_stepgate)" -c "$FLOOD_CLIENTS" -d "${RUSH_SECONDS}s" >"$OUT/p1-flood.txt" &
		flood_pid=$!
		"${LOAD[@]}" "$work/benchkit" rush -base "$(url lb_stepgate)" -n "$RUSH_PEOPLE" -password "$PASSWORD" \
			-first 127.0.0.2 -spread "$((RUSH_SECONDS * 5 / 6))s" >"$OUT/p1-rush.txt" &
		rush_pid=$!
		measure p 1 lb_stepgate+rush "$RUSH_SECONDS"
		wait "$flood_pid" "$rush_pid"
		rss "$pid_lb_stepgate" >"$OUT/lb_stepgate+rush.rss"
	fi
fi

echo
echo "Stepgate load test: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(go version | cut -d' ' -f3), wrk -t1 -c$CONNS -d${DURATION}s"
pairs=
case " $SCENARIOS " in *" forward_auth "*)
	case " $SCENARIOS " in *" stepgate_forward_auth "*) pairs=stepgate_forward_auth/forward_auth ;; esac ;;
esac
"$work/benchkit" report -dir "$OUT" -phase r -baseline proxy -pairs "$pairs"
if [ "$FLOOD" = 1 ]; then
	echo
	echo "Password flood: $FLOOD_CLIENTS clients posting wrong passwords for random user names (ratio = throughput kept)"
	"$work/benchkit" report -dir "$OUT" -phase f -baseline stepgate
fi
if [ "$RUSH" = 1 ]; then
	echo
	echo "9 o'clock: $RUSH_PEOPLE people signing in once each from their own addresses within ${RUSH_SECONDS}s, while $FLOOD_CLIENTS flood clients on one address post wrong passwords (ratio = throughput kept)"
	"$work/benchkit" report -dir "$OUT" -phase n -baseline stepgate
	echo "people: $(cat "$OUT/n1-rush.txt")"
fi
if [ "$MULTI" = 1 ]; then
	echo
	echo "Several instances: a Caddy load balancer (round robin) in front of two Stepgates sharing PostgreSQL, against the same balancer in front of two plain proxies (inst_a, inst_b are the two instances; PostgreSQL's own CPU is not counted)"
	"$work/benchkit" report -dir "$OUT" -phase m -baseline lb_proxy
	if [ "$RUSH" = 1 ]; then
		echo
		echo "Several instances, 9 o'clock: $RUSH_PEOPLE people signing in through the balancer within ${RUSH_SECONDS}s while $FLOOD_CLIENTS flood clients post wrong passwords (ratio = throughput kept)"
		"$work/benchkit" report -dir "$OUT" -phase p -baseline lb_stepgate
		echo "people: $(cat "$OUT/p1-rush.txt")"
	fi
fi
for t in stepgate forward_auth stepgate_forward_auth stepgate_authz; do
	[ -s "$OUT/$t.pprof" ] || continue
	echo
	echo "CPU profile of the $t Caddy (round 1), top entries:"
	go tool pprof -top -nodecount=30 "$work/stepgate" "$OUT/$t.pprof" 2>/dev/null | sed -n '1,40p'
done
echo
echo "raw wrk output and logs: $work"
