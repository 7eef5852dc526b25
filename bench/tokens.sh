#!/bin/sh
# tokens.sh - p11dkimd's signing rate on each of the four PKCS#11
# implementations of tests/tokens/, against the token's own rate
# measured in the same run.
#
#   bench/tokens.sh [-q] [-d SECONDS] [-r ROUNDS] [IMPL ...]
#
# -q          quick smoke run (1 s phases, 1 round); the numbers mean little
# -d SECONDS  length of each daemon load phase (default 3)
# -r ROUNDS   token/daemon rounds per key (default 3)
# IMPL        softhsm, opencryptoki, tpm, nss (default: all four)
#
# Each implementation runs inside its fixture (tests/tokens/IMPL.sh: a
# throw-away instance, stopped at the end), which runs this script again
# with --inner.  For RSA-2048, and Ed25519 where the token has EdDSA, the
# token is set up as tests/tokens/ceremony_test.py does it (p11dkim-keys
# init-token or the vendor's tool, then generate), p11dkimd started on
# it, and then, alternating ROUNDS times, with a last token run closing
# the series:
#   token alone  token_bench, 8 threads, the module's C_Sign (raw), while
#                the daemon, logged in on the same token, is idle;
#   daemon       load_bench, 8 clients, 4 KiB messages, closed loop; the
#                last signed message is verified by dkimpy.
# Each daemon round is compared with the mean of the token runs just
# before and after it, and the median round is shown, so other programs
# on a shared machine weigh on both sides alike.  The daemon's CPU time
# per request (parent, signer and front, from /proc) is shown too.
# Prints one table.  Exit status 0 whatever the numbers, 1 when something
# broke (a set-up, the daemon, a failed connection, a refused request, a
# signature that does not verify).  Binaries come from ${BUILD:-build}/
# and ${BUILD:-build}/bench/.
set -eu
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
KEYS="$top/$BUILD/p11dkim-keys"
DAEMON="$top/$BUILD/p11dkimd"
LOAD="$top/$BUILD/bench/load_bench"
TOKENB="$top/$BUILD/bench/token_bench"
VERIFY="$top/tests/xverify/verify_dkimpy.py"
THREADS=8	# token threads and daemon clients
WORKERS=64
. "$top/bench/bench_lib.sh"

die() {
	echo "tokens: $*" >&2
	exit 1
}

# --- inside a fixture: one implementation ---------------------------------
K() { "$KEYS" -c "$tmp/p11dkim.conf" --operator bench "$@"; }

# conf KEYTYPE LABEL: bench_conf on this implementation's module, token
# and key type
conf() {
	inst=$(printf '\ttoken-label = "%s"\n\tkey-type = "%s"' "$2" "$1")
	[ "$1" = ed25519 ] &&
	    inst=$(printf '%s\n\talgorithm = "ed25519-sha256"' "$inst")
	args=
	[ -n "$P11DKIM_TEST_INIT_ARGS" ] &&
	    args="pkcs11-init-args = \"$P11DKIM_TEST_INIT_ARGS\""
	bench_conf "$P11DKIM_TEST_MODULE" "$args" "$inst"
}

# setup KEYTYPE LABEL: PINs, the token, the key, the key table
setup() {
	umask 077
	mkdir -p "$tmp/state"
	# 8 characters: openCryptoki takes 4 to 8, init-token wants 8
	printf 'mosa%s\n' "$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')" \
	    >"$tmp/mosa.pin"
	printf 'so%s\n' "$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')" \
	    >"$tmp/so.pin"
	conf "$1" "$2"
	if [ "$P11DKIM_TOKEN_INIT" = vendor ]; then
		"$P11DKIM_TOKEN_FIXTURE" setup-token "$2" "$tmp/so.pin" \
		    "$tmp/mosa.pin"
	else
		K init-token mosa --so-pin "file:$tmp/so.pin" \
		    --pin "file:$tmp/mosa.pin"
	fi >"$tmp/keys.log" 2>&1 && K generate mosa >>"$tmp/keys.log" 2>&1 &&
	    bench_promote mosa 2>>"$tmp/keys.log" ||
	    { cat "$tmp/keys.log" >&2; die "token set-up failed"; }
	K dns mosa | keytable mosamuseum.com >"$tmp/keys.txt" ||
	    die "no key record in p11dkim-keys dns"
}

# service_pids: the implementation's own processes (swtpm, tpm2-abrmd and
# its bus; openCryptoki's pkcsslotd), by the fixture's directory in their
# command line, or by the pid file the fixture's pkcsslotd writes in the
# fixture's own /run
service_pids() {
	for p in /proc/[0-9]*; do
		c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $c in *"$P11DKIM_FIXTURE_DIR/impl"*) echo "${p#/proc/}" ;; esac
	done
	[ "$P11DKIM_TOKEN_IMPL" != opencryptoki ] || cat /run/pkcsslotd.pid
}
# svc_ticks: their CPU time so far, clock ticks
svc_ticks() {
	n=0
	for p in $svc; do
		n=$((n + $(ticks "$p")))
	done
	echo "$n"
}

# token OUT LABEL: token_bench's raw C_Sign on the daemon's token and key
token() {
	set -- "$1" "$2" -m "$P11DKIM_TEST_MODULE" -t "$2" \
	    -p "file:$tmp/mosa.pin" -k mosa-stxsel1 -c "$THREADS" -d "$TOK" \
	    -w "$WARM" -M raw
	out=$1
	shift 2
	[ -n "$P11DKIM_TEST_INIT_ARGS" ] && set -- "$@" -i "$P11DKIM_TEST_INIT_ARGS"
	s0=$(svc_ticks)
	"$TOKENB" "$@" >"$tmp/$out" 2>&1 ||
	    { cat "$tmp/$out" >&2; die "token_bench failed"; }
	alive
	r=$(result "$tmp/$out")
	t_svc=$(calc "($(svc_ticks) - $s0) * 1e6 / $HZ / $(field raw_all "$r")")
	t_cpu=$(calc "$(field raw_cpu_us "$r") + $t_svc")
}

# daemon OUT: load_bench, 8 clients, 4 KiB; every request signed, the
# last signature verified; CPU per request of the daemon's processes in
# c_*, of the implementation's own in c_svc, of the client in c_client
daemon() {
	s0=$(svc_ticks)
	cpu_mark
	"$LOAD" -s "$tmp/p11dkimd.sock" -c "$THREADS" -m 4k -w "$WARM" \
	    -d "$PHASE" -o "$tmp/$1.eml" >"$tmp/$1" 2>&1 || {
		cat "$tmp/$1" >&2
		tail -n 20 "$tmp/p11dkimd.log" >&2
		die "load_bench failed"
	}
	r=$(result "$tmp/$1")
	cpu_since "$(field all "$r")"
	c_svc=$(calc "($(svc_ticks) - $s0) * 1e6 / $HZ / $(field all "$r")")
	c_client=$(field client_cpu_us "$r")
	[ "$(field ok "$r")" -gt 0 ] && [ "$(field permfail "$r")" = 0 ] || {
		tail -n 20 "$tmp/p11dkimd.log" >&2
		die "requests refused: $r"
	}
	"$VERIFY" "$tmp/keys.txt" "$tmp/$1.eml" >"$tmp/$1.verify" 2>&1 || {
		cat "$tmp/$1.verify" >&2
		die "the last signature of $1 does not verify"
	}
	sleep 0.3	# let the front's threads of the closed connections end
	alive
}

# rounds KEYTYPE LABEL: token and daemon alternating, a last token run;
# one row of medians into $OUT/rows
rounds() {
	i=1 ratios='' dsigns='' raws='' tcpus='' cpus='' signers='' fronts=''
	parents='' svcs='' clients='' temp=0
	token tok1 "$2"
	while [ $i -le "$ROUNDS" ]; do
		tcpus="$tcpus $t_cpu"
		daemon "d$i"
		token "tok$((i + 1))" "$2"
		ra=$(field raw_s "$(result "$tmp/tok$i")")
		rb=$(field raw_s "$(result "$tmp/tok$((i + 1))")")
		r=$(result "$tmp/d$i")
		d=$(field signs_s "$r")
		temp=$((temp + $(field tempfail "$r")))
		ratios="$ratios $(calc "100 * $d * 2 / ($ra + $rb)")"
		dsigns="$dsigns $d" raws="$raws $ra"
		cpus="$cpus $(calc "$c_parent + $c_signer + $c_front + $c_svc")"
		signers="$signers $c_signer" fronts="$fronts $c_front"
		parents="$parents $c_parent" svcs="$svcs $c_svc"
		clients="$clients $c_client"
		i=$((i + 1))
	done
	raws="$raws $rb" tcpus="$tcpus $t_cpu"
	key=RSA-2048
	[ "$1" = ed25519 ] && key=Ed25519
	tc=$(median $tcpus) dc=$(median $cpus)
	echo "$P11DKIM_TOKEN_IMPL $key $(median $raws) $(median $dsigns)" \
	    "$(median $ratios) $tc $dc $(calc "100 * $tc / $dc")" \
	    "$(median $signers) $(median $fronts) $(median $parents)" \
	    "$(median $svcs) $(median $clients) $temp" \
	    "$(echo $ratios | tr ' ' ',')" >>"$OUT/rows"
}

# one_key KEYTYPE: a token, a key and a daemon of its own, measured
one_key() {
	tmp=$P11DKIM_TEST_DIR/$1
	mkdir -p "$tmp"
	label=$(printf '%s\n' "$P11DKIM_TOKEN_LABEL" |
	    sed "s/%s/mosa-${1%%[0-9]*}/")
	setup "$1" "$label"
	start_daemon "$tmp/p11dkim.conf"
	svc=$(service_pids)
	rounds "$1" "$label"
	stop_daemon
}

# inner OUT: every key type of this implementation
inner() {
	OUT=$1
	trap stop_daemon EXIT
	trap 'exit 1' HUP INT PIPE TERM
	one_key rsa2048
	[ "$P11DKIM_TOKEN_EDDSA" = 1 ] && one_key ed25519
	return 0
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit 0
fi

# --- outside: every implementation, and the table -------------------------
ROUNDS=3	# token, daemon, token, daemon, ... token
PHASE=3		# seconds per daemon phase
TOK=2		# seconds per token phase
WARM=0.5	# warm-up before each phase, not counted
usage() {
	echo "usage: tokens.sh [-q] [-d SECONDS] [-r ROUNDS]" \
	    "[softhsm|opencryptoki|tpm|nss ...]" >&2
	exit 1
}
while getopts qd:r: opt; do
	case $opt in
	q) PHASE=1; TOK=1; WARM=0.3; ROUNDS=1 ;;
	d) PHASE=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
case $PHASE in ''|*[!0-9.]*) usage ;; esac
case $ROUNDS in ''|*[!0-9]*|0) usage ;; esac
[ $# -gt 0 ] || set -- softhsm opencryptoki tpm nss
for impl in "$@"; do
	case $impl in softhsm|opencryptoki|tpm|nss) ;; *) usage ;; esac
done
for b in "$KEYS" "$DAEMON" "$LOAD" "$TOKENB"; do
	[ -x "$b" ] || die "$b is missing: make $BUILD/bench/$(basename "$b")" \
	    "(or make, for the programs)"
done
export ROUNDS PHASE TOK WARM BUILD

tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11dkim-tokens.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT PIPE TERM
: >"$tmp/rows"

# others_share: CPU seconds other programs used since busy0/times0
others_share() {
	times >"$tmp/times1"
	busy=$(calc "($(busy_ticks) - $busy0) / $HZ")
	wall=$(awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)
	ours=$(calc "$(our_s "$tmp/times1") - $(our_s "$tmp/times0")")
	others=$(calc "$busy - $ours")
	[ "${others#-}" = "$others" ] || others=0.0
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
busy0=$(busy_ticks)
t0=$(awk '{ print $1 }' /proc/uptime)
times >"$tmp/times0"
broken= details=
for impl in "$@"; do
	if ! tests/tokens/"$impl".sh "$top/bench/tokens.sh" --inner \
	    "$tmp" >"$tmp/$impl.log" 2>&1; then
		grep -v '^WARNING: Cannot prepare version query\|^$' \
		    "$tmp/$impl.log" | tail -n 30 >&2
		broken="$broken $impl"
	fi
done
others_share

echo "p11dkimd on four PKCS#11 implementations, $started: $(nproc) CPUs" \
    "($(cpu_model)); $THREADS token threads / daemon clients, 4 KiB" \
    "messages; $ROUNDS round(s) of ${TOK} s token alone + ${PHASE} s daemon"
echo "shared machine: other programs used $others of the $(calc "$wall * \
$(nproc)") CPU-seconds of the run ($(calc "100 * $others / ($wall * \
$(nproc))")%); token alone and daemon alternate, so both see that load"
echo
printf '%-13s %-9s %10s %10s %7s %10s %10s %7s\n' "implementation" \
    "key" "token s/s" "daemon s/s" "ratio" "token CPU" "daemon CPU" \
    "CPU"
while read -r impl key raw d ratio tc dc cr sg fr pa sv cl temp all; do
	printf '%-13s %-9s %10s %10s %6s%% %7s us %7s us %6s%%\n' \
	    "$impl" "$key" "$raw" "$d" "$ratio" "$tc" "$dc" "$cr"
	details="$details
  $impl $key: daemon CPU = signer $sg + front $fr + parent $pa + the\
 implementation's processes $sv us; client $cl us; rounds $all%"
	[ "$temp" = 0 ] || details="$details; $temp request(s) TEMPFAIL"
done <"$tmp/rows"
echo "$details"
echo
echo "token s/s: token_bench, raw C_Sign, $THREADS threads, median run." \
    "daemon s/s: median round; ratio: median of the daemon rounds, each" \
    "against the mean of the token runs before and after it."
echo "CPU per signature, medians: token CPU is token_bench's process," \
    "daemon CPU parent + signer + front per request (not the client);" \
    "both count the implementation's own processes (swtpm, tpm2-abrmd," \
    "pkcsslotd). CPU: token CPU / daemon CPU, the ratio a CPU-bound" \
    "daemon would reach; on a shared machine trust it over signs/s."
if [ -n "$broken" ]; then
	echo "tokens: broken:$broken (see above)" >&2
	exit 1
fi
exit 0
