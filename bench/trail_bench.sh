#!/bin/sh
# trail_bench.sh - what the signing trail and the quotas cost the native
# front: p11dkimd with both on against p11dkimd with both off, in the
# same run.
#
#   bench/trail_bench.sh [-q] [-d SECONDS] [-r ROUNDS]
#
# -q          quick smoke run (1 s phases, 1 round); the numbers mean little
# -d SECONDS  length of each load phase (default 4)
# -r ROUNDS   off/on rounds (default 5)
#
# One throw-away SoftHSM2 token store under mktemp -d, one RSA-2048 key
# made by p11dkim-keys, and two configurations like scripts/demo's: "off"
# (no trail-dir, no quota) and "on" (trail-dir in the throw-away folder
# with the default trail-sync of 1 s, and a rate, burst and daily cap on
# mosa high enough never to refuse, so the bucket is taken and paid on
# every request).  ROUNDS times: p11dkimd "off" started, 8 clients send
# 4 KiB messages in a closed loop (load_bench), stopped; then "on" alike.
# Each round gives signs/s and the daemon's CPU per signature (parent,
# signer and front, from /proc; the clients' own is not counted); the
# ratio on/off of each is taken per round, and the medians are reported.
# CPU per signature hardly moves when other programs share the machine;
# signs/s does.  The "on" rounds also count the trail's records: one per
# signature made, or the run fails.
# Prints one table, then one "target: ... PASS|FAIL" line.  Exit status 0
# whatever the numbers, 1 when something broke.  Binaries come from
# ${BUILD:-build}/ and ${BUILD:-build}/bench/.
set -eu
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
MODULE=${P11DKIM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
KEYS="$top/$BUILD/p11dkim-keys"
DAEMON="$top/$BUILD/p11dkimd"
LOAD="$top/$BUILD/bench/load_bench"
PHASE=4
ROUNDS=5
WARM=0.5
THREADS=8
WORKERS=64
. "$top/bench/bench_lib.sh"

usage() {
	echo "usage: trail_bench.sh [-q] [-d SECONDS] [-r ROUNDS]" >&2
	exit 1
}
while getopts qd:r: opt; do
	case $opt in
	q) PHASE=1; WARM=0.3; ROUNDS=1 ;;
	d) PHASE=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
case $PHASE in ''|*[!0-9.]*) usage ;; esac
case $ROUNDS in ''|*[!0-9]*|0) usage ;; esac

die() {
	echo "trail_bench: $*" >&2
	exit 1
}
for b in "$KEYS" "$DAEMON" "$LOAD"; do
	[ -x "$b" ] || die "$b is missing: build it first (see bench/README.md)"
done
[ -r "$MODULE" ] || die "no PKCS#11 module at $MODULE"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11dkim-trail-bench.XXXXXX")
cleanup() {
	stop_daemon
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

K() { "$KEYS" -c "$tmp/p11dkim.conf" --operator bench "$@"; }
QUOTA='	rate = 1000000
	burst = 1000000
	daily-cap = 1000000000'
# setup: the token, the key, and the two configurations
setup() {
	umask 077
	mkdir -p "$tmp/tokens" "$tmp/state" "$tmp/trail"
	export SOFTHSM2_CONF="$tmp/softhsm2.conf"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
	    "$tmp" >"$SOFTHSM2_CONF"
	printf 'mosa-bench-%s\n' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" \
	    >"$tmp/mosa.pin"
	printf 'so-bench-%s\n' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" \
	    >"$tmp/so.pin"
	bench_conf "$MODULE" "trail-dir = \"$tmp/trail\"" \
	    "	key-type = \"rsa2048\"
$QUOTA"
	mv "$tmp/p11dkim.conf" "$tmp/on.conf"
	bench_conf "$MODULE" "" '	key-type = "rsa2048"'
	cp "$tmp/p11dkim.conf" "$tmp/off.conf"
	{ K init-token mosa --so-pin "file:$tmp/so.pin" \
	    --pin "file:$tmp/mosa.pin" && K generate mosa; } \
	    >"$tmp/keys.log" 2>&1 ||
	    { cat "$tmp/keys.log" >&2; die "token setup failed"; }
}

# records: the trail's records so far
records() {
	cat "$tmp/trail/"*.trail 2>/dev/null | wc -l
}
# phase MODE ROUND: the daemon in MODE, one load; signs/s and CPU/sig
# (the trail's records are checked against the daemon's "signed" lines,
# which count the warm-up too)
phase() {
	mode=$1 round=$2
	start_daemon "$tmp/$mode.conf"
	before=$(records)
	cpu_mark
	"$LOAD" -s "$tmp/p11dkimd.sock" -c "$THREADS" -m 4k -w "$WARM" \
	    -d "$PHASE" >"$tmp/$mode$round" 2>&1 ||
	    { cat "$tmp/$mode$round" >&2; die "load_bench ($mode) failed"; }
	r=$(result "$tmp/$mode$round")
	cpu_since "$(field all "$r")"
	alive
	stop_daemon
	signed=$(grep -c ' signed inst=' "$tmp/p11dkimd.log" || true)
	made=$(($(records) - before))
	if [ "$mode" = on ] && [ "$made" -ne "$signed" ]; then
		die "round $round: $signed signed, $made records"
	fi
	eval "rate_$mode$round=$(field signs_s "$r")"
	eval "cpu_$mode$round=$(calc "$c_parent + $c_signer + $c_front")"
}

setup
started=$(date -u '+%Y-%m-%d %H:%M UTC')
busy0=$(busy_ticks)
t0=$(awk '{ print $1 }' /proc/uptime)
times >"$tmp/times0"
k=1
while [ $k -le "$ROUNDS" ]; do
	phase off $k
	phase on $k
	k=$((k + 1))
done
times >"$tmp/times1"
busy=$(calc "($(busy_ticks) - $busy0) / $HZ")
wall=$(awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)
others=$(calc "$busy - ($(our_s "$tmp/times1") - $(our_s "$tmp/times0"))")
[ "${others#-}" = "$others" ] || others=0.0

echo "trail + quotas vs neither, $started: $(nproc) CPUs ($(cpu_model)),"\
" SoftHSM2, RSA-2048, $THREADS clients, 4 KiB, $ROUNDS round(s) of" \
"${PHASE} s each"
echo "other programs used $others of the $(calc "$wall * $(nproc)")" \
"CPU-seconds of the run"
echo
printf '%-8s %10s %10s %8s %12s %12s %8s\n' round "off sig/s" "on sig/s" \
    "on/off" "off us/sig" "on us/sig" "on/off"
rr='' cr=''
k=1
while [ $k -le "$ROUNDS" ]; do
	eval "ro=\$rate_off$k rn=\$rate_on$k co=\$cpu_off$k cn=\$cpu_on$k"
	r1=$(calc "100 * $rn / $ro")
	r2=$(calc "100 * $cn / $co")
	rr="$rr $r1" cr="$cr $r2"
	printf '%-8s %10s %10s %7s%% %12s %12s %7s%%\n' "$k" "$ro" "$rn" \
	    "$r1" "$co" "$cn" "$r2"
	k=$((k + 1))
done
mr=$(median $rr)
mc=$(median $cr)
echo "  us/sig: the daemon's CPU (parent + signer + front) per signature"
echo
ok=0
lt "$mc" 103.0001 && ok=1
[ $ok = 1 ] && v=PASS || v=FAIL
echo "target: trail + quotas cost at most 3% of CPU per signature (median" \
"on/off $mc%; signs/s median on/off $mr%): $v"
