#!/bin/sh
# trail_bench.sh - what the signing trail and the quotas cost the native
# front: p11dkimd with both on against p11dkimd with both off, in the
# same run.
#
#   bench/trail_bench.sh [-q] [-d SECONDS] [-r ROUNDS]
#
# -q          quick smoke run (1 s phases, 1 round); the numbers mean little
# -d SECONDS  length of each load phase (default 2)
# -r ROUNDS   off/on rounds (default 10)
#
# One throw-away SoftHSM2 token store under mktemp -d, one RSA-2048 key
# made by p11dkim-keys, and two configurations like scripts/demo's: "off"
# (no trail-dir, no quota) and "on" (trail-dir in the throw-away folder
# with the default trail-sync of 1 s, and a rate, burst and daily cap on
# mosa high enough never to refuse, so the bucket is taken and paid on
# every request).  Both daemons run side by side on the one token (each
# idle while the other is measured).  ROUNDS times, off then on, or on
# then off (every other round, so that a drift of the machine's load hits
# both alike): 8 clients send 4 KiB messages in a closed loop
# (load_bench) to one daemon.
# Each round gives signs/s and the daemon's CPU per signature (parent,
# signer and front, from /proc; the clients' own is not counted); the
# ratio on/off of each is taken per round, and the medians are reported.
# CPU per signature hardly moves when other programs share the machine;
# signs/s does.  The "on" rounds also count the trail's records: one per
# signature made, or the run fails.  Then trail_cost measures alone the
# CPU a record and a quota take cost (bench/trail_cost.c), which the
# shared machine's noise hardly touches, as a share of "off"'s CPU per
# signature.
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
COST="$top/$BUILD/bench/trail_cost"
PHASE=2
ROUNDS=10
WARM=0.5
THREADS=8
WORKERS=64
. "$top/bench/bench_lib.sh"

die() {
	echo "trail_bench: $*" >&2
	exit 1
}
bench_options trail_bench.sh "$@"
bench_need "$KEYS" "$DAEMON" "$LOAD" "$COST"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11dkim-trail-bench.XXXXXX")
# stop_all: both daemons (and one being started)
stop_all() {
	stop_daemon
	for p in ${pid_off:-} ${pid_on:-}; do
		kill -TERM "$p" 2>/dev/null && wait "$p" || true
	done
	pid_off= pid_on=
}
trap 'stop_all; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT PIPE TERM

K() { "$KEYS" -c "$tmp/p11dkim.conf" --operator bench "$@"; }
QUOTA='	rate = 1000000
	burst = 1000000
	daily-cap = 1000000000'
# setup: the token, the key, and the two configurations
setup() {
	bench_softhsm
	mkdir -p "$tmp/trail"
	bench_conf "$MODULE" "trail-dir = \"$tmp/trail\"" \
	    "	key-type = \"rsa2048\"
$QUOTA"
	mv "$tmp/p11dkim.conf" "$tmp/on.conf"
	bench_conf "$MODULE" "" '	key-type = "rsa2048"'
	cp "$tmp/p11dkim.conf" "$tmp/off.conf"
	bench_key
}

# records: the trail's records so far
records() {
	cat "$tmp/trail/"*.trail 2>/dev/null | wc -l
}
# start MODE: p11dkimd with MODE's configuration, its own socket and log;
# its pids in pid_MODE, signer_MODE, front_MODE
start() {
	start_daemon "$tmp/$1.conf"
	mv "$tmp/p11dkimd.sock" "$tmp/$1.sock"
	eval "pid_$1=$dpid signer_$1=$signer front_$1=$front"
	dpid=
}
# phase MODE ROUND: one load on MODE's daemon (the other one idle);
# signs/s and the daemon's CPU per signature; with the trail on, its
# records must be the replies (all=, the warm-up's too)
phase() {
	mode=$1 round=$2
	eval "dpid=\$pid_$mode signer=\$signer_$mode front=\$front_$mode"
	before=$(records)
	cpu_mark
	"$LOAD" -s "$tmp/$mode.sock" -c "$THREADS" -m 4k -w "$WARM" \
	    -d "$PHASE" >"$tmp/$mode$round" 2>&1 ||
	    { cat "$tmp/$mode$round" >&2; die "load_bench ($mode) failed"; }
	r=$(result "$tmp/$mode$round")
	cpu_since "$(field all "$r")"
	alive
	[ "$(field tempfail "$r")" -eq 0 ] && [ "$(field permfail "$r")" -eq 0 ] &&
	    [ "$(field errors "$r")" -eq 0 ] ||
	    die "round $round ($mode): not every reply a signature: $r"
	dpid=
	made=$(($(records) - before))
	if [ "$mode" = on ] && [ "$made" -ne "$(field all "$r")" ]; then
		die "round $round: $(field all "$r") replies, $made records"
	fi
	eval "rate_$mode$round=$(field signs_s "$r")"
	eval "cpu_$mode$round=$(calc "$c_parent + $c_signer + $c_front")"
}

setup
# The sockets are renamed: the configurations differ in nothing else.
start off
start on
started=$(date -u '+%Y-%m-%d %H:%M UTC')
busy0=$(busy_ticks)
t0=$(awk '{ print $1 }' /proc/uptime)
times >"$tmp/times0"
# off, on; then on, off: a drift of the machine's load hits both alike
k=1
while [ $k -le "$ROUNDS" ]; do
	if [ $((k % 2)) -eq 1 ]; then
		phase off $k
		phase on $k
	else
		phase on $k
		phase off $k
	fi
	k=$((k + 1))
done
stop_all
mkdir "$tmp/cost"
"$COST" "$tmp/cost" >"$tmp/cost.out" 2>&1 ||
    { cat "$tmp/cost.out" >&2; die "trail_cost failed"; }
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
rr='' cr='' offs=''
k=1
while [ $k -le "$ROUNDS" ]; do
	eval "ro=\$rate_off$k rn=\$rate_on$k co=\$cpu_off$k cn=\$cpu_on$k"
	r1=$(calc "100 * $rn / $ro")
	r2=$(calc "100 * $cn / $co")
	rr="$rr $r1" cr="$cr $r2" offs="$offs $co"
	printf '%-8s %10s %10s %7s%% %12s %12s %7s%%\n' "$k" "$ro" "$rn" \
	    "$r1" "$co" "$cn" "$r2"
	k=$((k + 1))
done
mr=$(median $rr)
mc=$(median $cr)
echo "  us/sig: the daemon's CPU (parent + signer + front) per signature"
echo
rc=$(result "$tmp/cost.out")
one=$(field one_us "$rc") spread=$(field spread_us "$rc")
quota=$(field quota_us "$rc") off=$(median $offs)
echo "measured alone (trail_cost): a record $one us CPU with its file open," \
"$spread us when each record opens a file and closes another (1,000" \
"institutions in turn); a quota take $quota us"
echo "  = $(calc "100 * ($one + $quota) / $off")% of the median \"off\"" \
"CPU per signature ($off us), $(calc "100 * ($spread + $quota) / $off")%" \
"with a file opened each time"
echo
ok=0
lt "$mc" 103.0001 && ok=1
[ $ok = 1 ] && v=PASS || v=FAIL
echo "target: trail + quotas cost at most 3% of CPU per signature (median" \
"on/off $mc%; signs/s median on/off $mr%): $v"
