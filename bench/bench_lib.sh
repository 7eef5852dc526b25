# bench_lib.sh - what the shell benchmarks share (daemon_bench.sh,
# trail_bench.sh, tokens.sh, hsm_latency.sh); sourced, never run alone.
#
# The options of the daemon benchmarks, their throw-away SoftHSM2 token
# with one key, numbers out of the programs' "result: key=value ..."
# lines, arithmetic, p11dkimd started and watched in the foreground, and
# CPU time from /proc.  The sourcing script defines die MESSAGE (report,
# exit 1), DAEMON (the p11dkimd binary), tmp (its throw-away directory)
# and K (p11dkim-keys on $tmp/p11dkim.conf) before it calls them;
# start_daemon CONF logs to $tmp/p11dkimd.log.

HZ=$(getconf CLK_TCK)

# --- the options and the setup of the daemon benchmarks -------------------
# bench_usage NAME: the usage line of daemon_bench.sh and trail_bench.sh
bench_usage() {
	echo "usage: $1 [-q] [-d SECONDS] [-r ROUNDS]" >&2
	exit 1
}
# bench_options NAME ARGS...: -q (a quick smoke run: 1 s phases, one
# round), -d SECONDS (PHASE, each load phase), -r ROUNDS (ROUNDS); no
# operands.  Sets PHASE, CEIL, WARM and ROUNDS; usage and exit 1 for
# anything else.
bench_options() {
	name=$1
	shift
	OPTIND=1
	while getopts qd:r: opt; do
		case $opt in
		q) PHASE=1; CEIL=1; WARM=0.3; ROUNDS=1 ;;
		d) PHASE=$OPTARG ;;
		r) ROUNDS=$OPTARG ;;
		*) bench_usage "$name" ;;
		esac
	done
	shift $((OPTIND - 1))
	[ $# -eq 0 ] || bench_usage "$name"
	case $PHASE in ''|*[!0-9.]*) bench_usage "$name" ;; esac
	case $ROUNDS in ''|*[!0-9]*|0) bench_usage "$name" ;; esac
}
# bench_need BINARY...: each one built, and the PKCS#11 module at $MODULE
bench_need() {
	for b in "$@"; do
		[ -x "$b" ] ||
		    die "$b is missing: build it first (see bench/README.md)"
	done
	[ -r "$MODULE" ] || die "no PKCS#11 module at $MODULE"
}
# bench_softhsm: a SoftHSM2 token store in $tmp/tokens (SOFTHSM2_CONF
# points there), $tmp/state, and random PINs in $tmp/mosa.pin and
# $tmp/so.pin
bench_softhsm() {
	umask 077
	mkdir -p "$tmp/tokens" "$tmp/state"
	export SOFTHSM2_CONF="$tmp/softhsm2.conf"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
	    "$tmp" >"$SOFTHSM2_CONF"
	printf 'mosa-bench-%s\n' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" \
	    >"$tmp/mosa.pin"
	printf 'so-bench-%s\n' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" \
	    >"$tmp/so.pin"
}
# bench_key: mosa's token initialized, its key generated and promoted
# (the DNS taken as published), by p11dkim-keys on $tmp/p11dkim.conf
bench_key() {
	{ K init-token mosa --so-pin "file:$tmp/so.pin" \
	    --pin "file:$tmp/mosa.pin" && K generate mosa &&
	    bench_promote mosa; } \
	    >"$tmp/keys.log" 2>&1 ||
	    { cat "$tmp/keys.log" >&2; die "token setup failed"; }
}

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

# --- a configuration ------------------------------------------------------
# bench_conf MODULE GLOBAL INSTITUTION: $tmp/p11dkim.conf, like
# scripts/demo's: institution mosa (mosamuseum.com, its PIN in
# $tmp/mosa.pin, selector stxsel1), $WORKERS workers and connections for
# the one uid of every client, the log on stderr, the socket
# $tmp/p11dkimd.sock; GLOBAL and INSTITUTION are more lines for the top
# and for the institution
bench_conf() {
	cat >"$tmp/p11dkim.conf" <<CONF
# like scripts/demo's configuration
pkcs11-module = "$1"
$2
provider-zone = "dkim.example.net"
record-name = "sel%n-%c"
selectors = { "stxsel1", "stxsel2" }
state-dir = "$tmp/state"
ceremony-log = "$tmp/state/ceremony.log"
log = "stderr"
# one user: a bench, not a deployment
require-separate-users = false
workers = $WORKERS
# One uid opens every connection here, the idle ones included.
max-connections-per-uid = $WORKERS
listen "$tmp/p11dkimd.sock" {
	mode = "0600"
}
institution mosa {
	domains = { "mosamuseum.com" }
	pin = "file:$tmp/mosa.pin"
	active-selector = "stxsel1"
	allow-uids = { "$(id -u)" }
$3
}
CONF
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

# --- keys for the verifiers -----------------------------------------------
# keytable DOMAIN: from `p11dkim-keys dns` on stdin, the key of selector
# stxsel1 (record sel1-...) as a line of tests/xverify's key tables:
# "stxsel1._domainkey.DOMAIN v=DKIM1; ..."
keytable() {
	awk -v dom="$1" '
	/^sel1-[^ ]* IN TXT \(/ { on = 1 }
	on {
		s = $0
		while (match(s, /"[^"]*"/)) {
			rec = rec substr(s, RSTART + 1, RLENGTH - 2)
			s = substr(s, RSTART + RLENGTH)
		}
		if (s ~ /\)/) on = 0
	}
	END {
		if (rec == "") exit 1
		print "stxsel1._domainkey." dom " " rec
	}'
}

# bench_promote INST - a new institution is pending until its DNS is
# confirmed: take what `p11dkim-keys dns` prints as published and promote
# it (uses the caller's K and $tmp)
bench_promote() {
	K dns "$1" >"$tmp/$1.zone" &&
	    K check-dns "$1" --promote --zone "$tmp/$1.zone" >/dev/null
}
