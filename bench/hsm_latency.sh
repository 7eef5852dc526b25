#!/bin/sh
# hsm_latency.sh - p11dkimd in front of a network HSM: every C_Sign takes
# 20 ms more (the fault-injection module, tests/p11fault), and the daemon
# is sized as docs/p11dkimd.md ("Sizing for slow tokens") says.  Its
# throughput is compared with the same daemon's without the added latency,
# in the same run.
#
#   bench/hsm_latency.sh [-q] [-d SECONDS] [-r ROUNDS] [-l MS] [-c CLIENTS]
#
# -q          smoke run (1 s phases, 1 round)
# -d SECONDS  each load phase (default 5)
# -r ROUNDS   rounds of (no latency, latency), medians taken (default 3)
# -l MS       latency added to each C_Sign (default 20)
# -c CLIENTS  concurrent clients (default 128)
#
# One institution, RSA-2048, on a SoftHSM2 token in a throw-away store,
# seen through build/tests/libp11fault.so.  sessions = 96, signer-threads =
# 192 (a token takes at most half of them), workers and the per-uid cap
# 256: 96 signatures in flight at 20 ms is 4,800 a second, above what the
# token itself signs on this machine.  The latency is switched on and off
# in the running daemon through the fault module's control file, so both
# phases use the same processes.  Clients send 4 KiB messages, closed
# loop (bench/load_bench).  Prints signs/s, p50 and p99 for each phase,
# the ratio of their medians, and a "target:" line (>= 90%).  Exit status
# 0 whatever the numbers, 1 when something broke.
set -eu
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
REAL=${P11DKIM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
FAULT="$top/$BUILD/tests/libp11fault.so"
KEYS="$top/$BUILD/p11dkim-keys"
DAEMON="$top/$BUILD/p11dkimd"
LOAD="$top/$BUILD/bench/load_bench"
PHASE=5
ROUNDS=3
LAT=20
CLIENTS=128
SESSIONS=96
THREADS=192
WORKERS=256

usage() {
	echo "usage: hsm_latency.sh [-q] [-d SECONDS] [-r ROUNDS] [-l MS] [-c CLIENTS]" >&2
	exit 1
}
while getopts qd:r:l:c: opt; do
	case $opt in
	q) PHASE=1; ROUNDS=1 ;;
	d) PHASE=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	l) LAT=$OPTARG ;;
	c) CLIENTS=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage

die() {
	echo "hsm_latency: $*" >&2
	exit 1
}
for b in "$FAULT" "$KEYS" "$DAEMON" "$LOAD"; do
	[ -e "$b" ] || die "$b is missing: run make tests and make bench first"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11dkim-hsm.XXXXXX")
dpid=
cleanup() {
	if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
		kill -TERM "$dpid"
		wait "$dpid" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# field, median, bench_conf
. "$top/bench/bench_lib.sh"
trap 'exit 1' HUP INT PIPE TERM

umask 077
mkdir -p "$tmp/tokens" "$tmp/state"
export SOFTHSM2_CONF="$tmp/softhsm2.conf"
export P11FAULT_MODULE="$REAL"
export P11FAULT_CONTROL="$tmp/control"
: >"$P11FAULT_CONTROL"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$tmp" >"$SOFTHSM2_CONF"
printf 'mosa-bench-pin-1\n' >"$tmp/mosa.pin"
printf 'so-bench-pin-1\n' >"$tmp/so.pin"
bench_conf "$FAULT" "sessions = $SESSIONS
signer-threads = $THREADS" ""
K() { "$KEYS" -c "$tmp/p11dkim.conf" --operator bench "$@"; }
{ K init-token mosa --so-pin "file:$tmp/so.pin" --pin "file:$tmp/mosa.pin" &&
    K generate mosa && bench_promote mosa; } >"$tmp/keys.log" 2>&1 ||
    { cat "$tmp/keys.log" >&2; die "token setup failed"; }

"$DAEMON" -f -c "$tmp/p11dkim.conf" 2>"$tmp/p11dkimd.log" &
dpid=$!
i=0
until grep -q 'front ready' "$tmp/p11dkimd.log" 2>/dev/null; do
	kill -0 "$dpid" 2>/dev/null || { cat "$tmp/p11dkimd.log" >&2; die "p11dkimd did not start"; }
	i=$((i + 1))
	[ $i -lt 300 ] || die "p11dkimd not ready after 30 s"
	sleep 0.1
done

# phase LATENCY: one load phase with that latency; prints its result line
phase() {
	if [ "$1" -gt 0 ]; then
		printf 'C_Sign delay=%s\n' "$1" >"$tmp/control.new"
	else
		: >"$tmp/control.new"
	fi
	mv "$tmp/control.new" "$P11FAULT_CONTROL"
	"$LOAD" -s "$tmp/p11dkimd.sock" -c "$CLIENTS" -m 4k -d "$PHASE" -w 1 \
	    >"$tmp/load.out" 2>&1 || { cat "$tmp/load.out" >&2; die "load_bench failed"; }
	grep '^result:' "$tmp/load.out" | tail -n 1
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "CPU: $cpu, $(nproc) CPUs; RSA-2048 on SoftHSM2 through the fault module"
echo "sessions=$SESSIONS signer-threads=$THREADS clients=$CLIENTS, 4 KiB, closed loop, ${PHASE} s phases"
printf '%-6s %-14s %10s %8s %8s %6s %6s\n' round phase signs/s p50_ms p99_ms temp errors
r0= r1=
for round in $(seq 1 "$ROUNDS"); do
	for lat in 0 "$LAT"; do
		res=$(phase "$lat")
		rate=$(field signs_s "$res")
		printf '%-6s %-14s %10s %8s %8s %6s %6s\n' "$round" "+${lat} ms/C_Sign" \
		    "$rate" "$(field p50_ms "$res")" "$(field p99_ms "$res")" \
		    "$(field tempfail "$res")" "$(field errors "$res")"
		if [ "$lat" -eq 0 ]; then r0="$r0 $rate"; else r1="$r1 $rate"; fi
	done
done
# shellcheck disable=SC2086
m0=$(median $r0)
# shellcheck disable=SC2086
m1=$(median $r1)
ratio=$(awk "BEGIN { printf \"%.1f\", 100 * $m1 / $m0 }")
echo "median: no latency $m0 signs/s, +${LAT} ms $m1 signs/s: ${ratio}%"
if awk "BEGIN { exit !($ratio >= 90) }"; then verdict=PASS; else verdict=FAIL; fi
echo "target: with ${LAT} ms per C_Sign, >= 90% of the rate without: ${ratio}% $verdict"
