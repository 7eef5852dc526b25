# bench_lib.sh - what the shell benchmarks share (daemon_bench.sh,
# tokens.sh); sourced, never run alone.
#
# Numbers out of the programs' "result: key=value ..." lines, arithmetic,
# p11dkimd started and watched in the foreground, and CPU time from /proc.
# The sourcing script defines die MESSAGE (report, exit 1), DAEMON (the
# p11dkimd binary) and tmp (its throw-away directory); start_daemon CONF
# logs to $tmp/p11dkimd.log.

HZ=$(getconf CLK_TCK)

# --- numbers --------------------------------------------------------------
# field NAME LINE: the value of " NAME=value" in a result line
field() {
	printf '%s\n' "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"
}
# result FILE: the "result:" line of a bench's output
result() {
	grep '^result:' "$1" | tail -n 1
}
# calc EXPR: floating point arithmetic, one decimal
calc() {
	awk "BEGIN { printf \"%.1f\", $1 }"
}
# ge A B, lt A B: comparisons of floating point numbers
ge() {
	awk "BEGIN { exit !($1 >= $2) }"
}
lt() {
	awk "BEGIN { exit !($1 < $2) }"
}
# median VALUES...: the middle one (the lower middle of an even count)
median() {
	printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}

# --- the daemon and its processes ----------------------------------------
dpid=
# start_daemon CONF: p11dkimd -f, until its front is ready; its children
# in signer and front
start_daemon() {
	"$DAEMON" -f -c "$1" 2>"$tmp/p11dkimd.log" &
	dpid=$!
	i=0
	until grep -q 'front ready' "$tmp/p11dkimd.log" 2>/dev/null; do
		kill -0 "$dpid" 2>/dev/null ||
		    { cat "$tmp/p11dkimd.log" >&2; die "p11dkimd did not start"; }
		i=$((i + 1))
		[ $i -lt 300 ] || die "p11dkimd not ready after 30 s"
		sleep 0.1
	done
	# the signer is forked first, the front once the signer is ready
	kids=$(for p in $(ps -o pid= --ppid "$dpid"); do
		echo "$(cut -d' ' -f22 "/proc/$p/stat") $p"
	done | sort -n | awk '{ printf "%s ", $2 }')
	read -r signer front extra <<EOF
$kids
EOF
	[ -n "$front" ] && [ -z "$extra" ] ||
	    die "expected two children of p11dkimd, found: $kids"
}
# stop_daemon: SIGTERM, and wait for it
stop_daemon() {
	if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
		kill -TERM "$dpid"
		wait "$dpid" || true
	fi
	dpid=
}
# alive: the daemon and the same two children still run
alive() {
	for p in "$dpid" "$signer" "$front"; do
		kill -0 "$p" 2>/dev/null || {
			tail -n 20 "$tmp/p11dkimd.log" >&2
			die "p11dkimd (or a child) stopped during the run"
		}
	done
}
# ticks PID: CPU time so far (user + system, every thread), clock ticks
ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
# cpu_mark: remember the daemon's CPU times
cpu_mark() {
	m_parent=$(ticks "$dpid") m_signer=$(ticks "$signer")
	m_front=$(ticks "$front")
}
# cpu_since N: the daemon's CPU since cpu_mark, us per request of N, in
# c_parent, c_signer and c_front
cpu_since() {
	c_parent=$(calc "($(ticks "$dpid") - $m_parent) * 1e6 / $HZ / $1")
	c_signer=$(calc "($(ticks "$signer") - $m_signer) * 1e6 / $HZ / $1")
	c_front=$(calc "($(ticks "$front") - $m_front) * 1e6 / $HZ / $1")
}

# --- the machine: how much of it other programs took ---------------------
# busy_ticks: ticks every CPU spent busy so far (user, nice, system, irq,
# softirq, steal), from /proc/stat
busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
# our_s FILE: CPU seconds of this shell and its waited-for children, from
# the output of the times builtin (run in this shell, not a subshell)
our_s() {
	awk '{ for (i = 1; i <= 2; i++) { split($i, t, "m"); sub("s", "", \
	    t[2]); s += t[1] * 60 + t[2] } } END { printf "%.1f", s }' "$1"
}
# cpu_model: the CPU's name, from /proc/cpuinfo
cpu_model() {
	awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo
}
