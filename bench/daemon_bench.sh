#!/bin/sh
# daemon_bench.sh - p11dkimd's throughput, latency and memory, against the
# token's own signing rate measured in the same run.
#
#   bench/daemon_bench.sh [-q] [-d SECONDS] [-r ROUNDS]
#
# -q          quick smoke run (1 s phases, 1 round); the numbers mean little
# -d SECONDS  length of each daemon load phase (default 4)
# -r ROUNDS   ceiling/daemon rounds for the throughput ratio (default 5)
#
# Everything happens in a throw-away SoftHSM2 token store under mktemp -d
# (SOFTHSM2_CONF points there; /var/lib/softhsm and ~/.config/softhsm2
# are never touched), with a configuration like scripts/demo's
# (institution mosa, RSA-2048, 64 workers, log to a file) and a key
# generated on the token by p11dkim-keys.  Then, in one run:
#   (a) the token ceiling: token_bench, 8 threads, the module's C_Sign
#       (raw) and the token layer's p11_key_sign;
#   (b) p11dkimd, 8 clients, 4 KiB messages, closed loop: signs/s and
#       the ratio to the ceiling.  (a) and (b) alternate ROUNDS times, and
#       a last raw ceiling closes the series: each daemon round is
#       compared with the mean of the ceilings just before and after it,
#       and the target uses the median round, so a shared machine's drift
#       hits both sides alike.  SoftHSM2's file backend lets token_bench
#       open the token while the daemon's signer holds it; the daemon is
#       idle then, and its CPU time during the ceiling runs is shown;
#   (c) 8 clients, 1 MiB messages, closed loop;
#   (d) open loop at 50% of (b)'s median rate: latency percentiles;
#   (e) peak RSS (VmHWM, reset before each) of the daemon's processes
#       (parent, signer, front) and of the front alone, while it signs one
#       100 MiB message, and while 64 connections that each signed one
#       message stay open, idle.
# CPU time per signature of each process (from /proc, and the clients'
# own) is shown next to the token's: unlike signs/s it hardly changes
# when other programs share the machine, and how much CPU they took
# during the run is shown too.
# Prints one table, then one "target: ... PASS|FAIL" line per target.
# Exit status 0 whatever the numbers, 1 when something broke (setup, the
# daemon, a failed connection).  Binaries come from ${BUILD:-build}/ and
# ${BUILD:-build}/bench/.
set -eu
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
MODULE=${P11DKIM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
KEYS="$top/$BUILD/p11dkim-keys"
DAEMON="$top/$BUILD/p11dkimd"
LOAD="$top/$BUILD/bench/load_bench"
TOKENB="$top/$BUILD/bench/token_bench"
PHASE=4		# seconds per daemon load phase
ROUNDS=5	# ceiling, daemon, ceiling, daemon, ... ceiling
CEIL=2		# seconds per token_bench path
WARM=0.5	# warm-up before each closed-loop phase
THREADS=8	# token threads and daemon clients
SESSIONS=4	# the daemon's default session pool, for the token layer
WORKERS=64
IDLE=64		# idle connections for the memory check
. "$top/bench/bench_lib.sh"

die() {
	echo "daemon_bench: $*" >&2
	exit 1
}
bench_options daemon_bench.sh "$@"
bench_need "$KEYS" "$DAEMON" "$LOAD" "$TOKENB"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11dkim-bench.XXXXXX")
cleanup() {
	stop_daemon
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

# --- a token, a key and a configuration, as scripts/demo makes them -------
K() { "$KEYS" -c "$tmp/p11dkim.conf" --operator bench "$@"; }
setup() {
	bench_softhsm
	bench_conf "$MODULE" "" '	key-type = "rsa2048"'
	bench_key
}

# --- the measurements, piece by piece -----------------------------------
# idle_cpu_s: the daemon's CPU seconds since cpu_mark (while it is idle)
idle_cpu_s() {
	awk "BEGIN { printf \"%.2f\", ($(ticks "$dpid") + $(ticks "$signer") + \
	    $(ticks "$front") - $m_parent - $m_signer - $m_front) / $HZ }"
}

# ceiling OUT MODE: token_bench on the daemon's token and key
ceiling() {
	"$TOKENB" -m "$MODULE" -t mosa -p "file:$tmp/mosa.pin" -k mosa-stxsel1 \
	    -c "$THREADS" -s "$SESSIONS" -d "$CEIL" -M "$2" >"$tmp/$1" 2>&1 ||
	    { cat "$tmp/$1" >&2; die "token_bench failed"; }
}
# load OUT ARGS...: one load_bench run; a failed connection is a failure
load() {
	out=$1
	shift
	"$LOAD" -s "$tmp/p11dkimd.sock" "$@" >"$tmp/$out" 2>&1 || {
		cat "$tmp/$out" >&2
		tail -n 20 "$tmp/p11dkimd.log" >&2
		die "load_bench $* failed"
	}
	sleep 0.3	# let the front's threads of the closed connections end
	alive
}
# load_cpu OUT ARGS...: load, and the CPU per request of every process
load_cpu() {
	cpu_mark
	load "$@"
	r=$(result "$tmp/$1")
	cpu_since "$(field all "$r")"
	c_client=$(field client_cpu_us "$r")
	c_total=$(calc "$c_parent + $c_signer + $c_front + $c_client")
}

# --- memory: peak RSS of the daemon's processes ---------------------------
peak_note=
# reset_peaks: restart every process's VmHWM (Linux: clear_refs 5)
reset_peaks() {
	for p in "$dpid" "$signer" "$front"; do
		(echo 5 >"/proc/$p/clear_refs") 2>/dev/null ||
		    peak_note=" (a peak since the start: clear_refs refused)"
	done
}
hwm_kib() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}
# peaks: "SUM FRONT", KiB
peaks() {
	echo "$(($(hwm_kib "$dpid") + $(hwm_kib "$signer") + \
	    $(hwm_kib "$front"))) $(hwm_kib "$front")"
}
mib() {
	calc "$1 / 1024"
}

# --- the measurements -----------------------------------------------------
# rounds: (a) and (b), alternating, and a last raw ceiling
rounds() {
	i=1
	while [ $i -le "$ROUNDS" ]; do
		cpu_mark
		ceiling "ceil$i" both
		eval "idle$i=\$(idle_cpu_s)"
		load_cpu "d4k$i" -c "$THREADS" -m 4k -w "$WARM" -d "$PHASE"
		eval "cpu$i=\"$c_total $c_signer $c_front $c_client $c_parent\""
		i=$((i + 1))
	done
	cpu_mark
	ceiling "ceil$i" raw
	eval "idle$i=\$(idle_cpu_s)"
}
# round_numbers: each round against the raw runs around it; medians
round_numbers() {
	rates='' ratios='' raws='' rawcpus='' layercpus='' totals='' lerr=0
	i=1
	while [ $i -le "$ROUNDS" ]; do
		rc=$(result "$tmp/ceil$i")
		ra=$(field raw_s "$rc")
		rb=$(field raw_s "$(result "$tmp/ceil$((i + 1))")")
		d=$(field signs_s "$(result "$tmp/d4k$i")")
		rates="$rates $d"
		ratios="$ratios $(calc "100 * $d * 2 / ($ra + $rb)")"
		raws="$raws $ra"
		rawcpus="$rawcpus $(field raw_cpu_us "$rc")"
		layercpus="$layercpus $(field layer_cpu_us "$rc")"
		lerr=$((lerr + $(field layer_errors "$rc")))
		eval "totals=\"\$totals \${cpu$i%% *}\""
		i=$((i + 1))
	done
	raws="$raws $(field raw_s "$(result "$tmp/ceil$i")")"
	cap=$(median $rates)
	ratio=$(median $ratios)
	ceil=$(median $raws)
	cpu_ratio=$(calc "100 * $(median $rawcpus) / $(median $totals)")
}
# memory: (e), peak RSS signing 100 MiB, then with idle connections
memory() {
	reset_peaks
	load big -c 1 -m 100m -n 1
	read -r big_all big_front <<EOF
$(peaks)
EOF
	reset_peaks
	"$LOAD" -s "$tmp/p11dkimd.sock" -c "$IDLE" -m 4k -n "$IDLE" -H 3 \
	    >"$tmp/idle" 2>&1 &
	lpid=$!
	sleep 2
	alive
	read -r idle_all idle_front <<EOF
$(peaks)
EOF
	wait "$lpid" || { cat "$tmp/idle" >&2; die "load_bench (idle) failed"; }
}
# others_share: CPU seconds other programs used since busy0/times0
others_share() {
	times >"$tmp/times1"
	busy=$(calc "($(busy_ticks) - $busy0) / $HZ")
	wall=$(awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)
	ours=$(calc "$(our_s "$tmp/times1") - $(our_s "$tmp/times0")")
	others=$(calc "$busy - $ours")
	[ "${others#-}" = "$others" ] || others=0.0
}

# --- the report -----------------------------------------------------------
# row LABEL SIGNS/S CEILING% [RESULT]
row() {
	if [ $# -lt 4 ]; then
		printf '%-40s %9s %8s\n' "$1" "$2" "$3"
		return
	fi
	printf '%-40s %9s %8s %7s %7s %7s %s\n' "$1" "$2" "$3" \
	    "$(field p50_ms "$4")" "$(field p99_ms "$4")" "$(field max_ms "$4")" \
	    "$(field ok "$4")/$(field tempfail "$4")/$(field permfail "$4")"
}
# cpurow LABEL TOTAL SIGNER FRONT CLIENT PARENT
cpurow() {
	printf '%-40s %9s %8s %7s %7s %7s\n' "$@"
}
print_head() {
	echo "p11dkimd benchmark, $started: $(nproc) CPUs ($(cpu_model)), SoftHSM2 \
$(softhsm2-util --version 2>/dev/null || echo '?'), RSA-2048, $THREADS \
threads/clients, $ROUNDS round(s) of ${CEIL} s token + ${PHASE} s daemon"
	echo "other programs used $others of the $(calc "$wall * $(nproc)") \
CPU-seconds of the run ($(calc "100 * $others / ($wall * $(nproc))")%): \
signs/s are only comparable within this run; CPU per signature is stable"
	echo
}
print_throughput() {
	printf '%-40s %9s %8s %7s %7s %7s %s\n' \
	    "throughput (closed loop unless said)" "signs/s" "ceiling" \
	    "p50 ms" "p99 ms" "max ms" "ok/tempfail/permfail"
	i=1
	while [ $i -le "$ROUNDS" ]; do
		rc=$(result "$tmp/ceil$i")
		ra=$(field raw_s "$rc")
		la=$(field layer_s "$rc")
		row "$i: token C_Sign raw" "$ra" "-"
		row "$i: token layer p11_key_sign ($SESSIONS sess.)" "$la" \
		    "$(calc "100 * $la / $ra")%"
		rd=$(result "$tmp/d4k$i")
		row "$i: daemon 4 KiB" "$(field signs_s "$rd")" \
		    "$(echo $ratios | cut -d' ' -f$i)%" "$rd"
		i=$((i + 1))
	done
	row "$i: token C_Sign raw" "$(field raw_s "$(result "$tmp/ceil$i")")" "-"
	row "daemon 1 MiB" "$(field signs_s "$r1m")" \
	    "$(calc "100 * $(field signs_s "$r1m") / $ceil")%" "$r1m"
	row "daemon 4 KiB, open loop at $rate/s" "$(field signs_s "$ropen")" \
	    "$(calc "100 * $(field signs_s "$ropen") / $ceil")%" "$ropen"
	echo "  ceiling: each daemon round against the mean of the raw runs" \
	    "around it; other rows against the median raw run ($ceil/s)."
	idles=
	i=1
	while [ $i -le $((ROUNDS + 1)) ]; do
		eval "idles=\"\$idles \$idle$i\""
		i=$((i + 1))
	done
	echo "  daemon CPU during the token runs (s):$idles; 1 MiB =" \
	    "$(calc "$(field signs_s "$r1m") * 1.048576") MB/s of messages"
	[ "$lerr" -eq 0 ] || echo "  token layer: $lerr signature(s) failed:" \
	    "$(grep -h 'failed, first' "$tmp"/ceil* | head -n 1 |
	    sed 's/.*first: //')"
	echo
}
print_cpu() {
	cpurow "CPU per signature (us)" "all" "signer" "front" "client" "parent"
	cpurow "token C_Sign raw (median)" "$(median $rawcpus)" "" "" "" ""
	cpurow "token layer p11_key_sign (median)" "$(median $layercpus)" \
	    "" "" "" ""
	i=1
	while [ $i -le "$ROUNDS" ]; do
		eval "cpurow \"$i: daemon 4 KiB\" \$cpu$i"
		i=$((i + 1))
	done
	cpurow "daemon 1 MiB" $cpu1m
	echo "  the ceiling the daemon would reach if CPU-bound like the" \
	    "token: $cpu_ratio% (token CPU / daemon CPU per signature, 4 KiB," \
	    "medians)"
	echo
}
print_memory() {
	printf '%-40s %14s %10s\n' "memory (peak RSS)" "all processes" "front"
	printf '%-40s %10s MiB %6s MiB\n' "signing one 100 MiB message" \
	    "$(mib "$big_all")" "$(mib "$big_front")"
	printf '%-40s %10s MiB %6s MiB\n' "$IDLE connections open, idle" \
	    "$(mib "$idle_all")" "$(mib "$idle_front")"
	echo "  VmHWM of parent + signer + front (shared library pages count" \
	    "in each)$peak_note"
	echo
}
verdict() {	# verdict OK TEXT
	if [ "$1" = 1 ]; then v=PASS; else v=FAIL; fi
	echo "target: $2: $v"
}
print_targets() {
	ok=0; ge "$ratio" 90 && ok=1
	verdict $ok "4 KiB at $THREADS clients >= 90% of the token ceiling,\
 signs/s (median round $ratio%: rounds$ratios; daemon median $cap/s,\
 raw token median $ceil/s)"
	ok=0; ge "$cpu_ratio" 90 && ok=1
	verdict $ok "4 KiB at $THREADS clients >= 90% of the token ceiling,\
 CPU per signature ($cpu_ratio%: $(median $rawcpus) us raw against\
 $(median $totals) us; trust this one when other programs took more than\
 a few percent)"
	p99=$(field p99_ms "$ropen")
	ok=0; lt "$p99" 20 && ok=1
	verdict $ok "p99 latency at 50% of capacity ($rate/s) < 20 ms (p99\
 $p99 ms; $(field late "$ropen") sends late, p99 from the due time\
 $(field p99_due_ms "$ropen") ms)"
	ok=0; [ "$big_all" -lt $((32 * 1024)) ] &&
	    [ "$(field ok "$rbig")" = 1 ] && ok=1
	verdict $ok "peak RSS signing one 100 MiB message < 32 MiB ($(mib \
"$big_all") MiB, front $(mib "$big_front") MiB; signed: $(field ok "$rbig"))"
	ok=0; [ "$idle_all" -lt $((64 * 1024)) ] &&
	    [ "$(field ok "$ridle")" = "$IDLE" ] && ok=1
	verdict $ok "peak RSS with $IDLE idle connections < 64 MiB ($(mib \
"$idle_all") MiB, front $(mib "$idle_front") MiB; $(field ok \
"$ridle")/$IDLE signed first)"
}

# --- the run --------------------------------------------------------------
started=$(date -u '+%Y-%m-%d %H:%M UTC')
setup
busy0=$(busy_ticks)
t0=$(awk '{ print $1 }' /proc/uptime)
times >"$tmp/times0"
start_daemon "$tmp/p11dkim.conf"
rounds
round_numbers
load_cpu d1m -c "$THREADS" -m 1m -w "$WARM" -d "$PHASE"	# (c)
cpu1m="$c_total $c_signer $c_front $c_client $c_parent"
r1m=$(result "$tmp/d1m")
rate=$(calc "$cap / 2")						# (d)
load open -c "$THREADS" -m 4k -r "$rate" -w 0.5 -d "$PHASE"
ropen=$(result "$tmp/open")
memory								# (e)
rbig=$(result "$tmp/big")
ridle=$(result "$tmp/idle")
stop_daemon
others_share

print_head
print_throughput
print_cpu
print_memory
print_targets
