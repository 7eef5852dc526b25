#!/bin/sh
# milter_compare.sh - p11dkimd's milter front against OpenDKIM, under the
# same load in the same run: 2 milter connections, each sending small
# messages back to back (bench/milter_load.c, as Postfix speaks milter).
#
#   bench/milter_compare.sh [SECONDS] [TRIALS]      (defaults 10 and 5)
#   MB_CONNS=1 bench/milter_compare.sh ...          (other connection counts)
#
# OpenDKIM signs with an RSA-2048 key file, relaxed/relaxed; p11dkimd with
# an RSA-2048 key that never leaves its SoftHSM2 token, relaxed/relaxed.
# The trials alternate (OpenDKIM, p11dkimd, OpenDKIM, ...) so that a
# shared machine's drift hits both alike; the medians are compared.  A
# message counts only when a DKIM-Signature was added, and the last one of
# every trial is checked by dkimpy and Mail::DKIM.
# Target (issue): p11dkimd >= 2x OpenDKIM's messages/s.
# Everything lives in a mktemp -d folder, removed at the end.
set -u
SECS=${1:-10}
TRIALS=${2:-5}
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
MOD=${P11DKIM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
MILTER_BENCH_SOURCED=1 MILTER_BENCH_TOP=$top
export MILTER_BENCH_SOURCED MILTER_BENCH_TOP
. "$top/bench/milter_bench.sh"

tmp=$(mktemp -d)
daemon=
cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	opendkim_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
die() { echo "milter_compare: $*" >&2; exit 1; }

# p11dkimd with a milter front on a fresh token
export SOFTHSM2_CONF="$tmp/softhsm2.conf"
mkdir -p "$tmp/tokens" "$tmp/state"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$tmp" >"$SOFTHSM2_CONF"
(umask 077; printf 'so-pin-12345678\n' >"$tmp/so.pin"; printf 'mosa-pin-12345678\n' >"$tmp/mosa.pin")
cat >"$tmp/p11dkim.conf" <<CONF
pkcs11-module = "$MOD"
provider-zone = "dkim.example.net"
record-name = "sel%n-%c"
selectors = { "stxsel1", "stxsel2" }
state-dir = "$tmp/state"
ceremony-log = "$tmp/state/ceremony.log"
log = "stderr"
# one user: a bench, not a deployment
require-separate-users = false
milter "unix:$tmp/milter.sock" {
	mode = "0600"
}
institution mosa {
	domains = { "mosamuseum.com" }
	pin = "file:$tmp/mosa.pin"
	active-selector = "stxsel1"
	canonicalization = "relaxed/relaxed"
	milter-hosts = { "127.0.0.1" }
}
CONF
K() { "$top/$BUILD/p11dkim-keys" -c "$tmp/p11dkim.conf" --operator bench "$@"; }
K init-token mosa --so-pin "file:$tmp/so.pin" --pin "file:$tmp/mosa.pin" >/dev/null &&
    K generate mosa >/dev/null && K dns mosa >"$tmp/mosa.zone" &&
    K check-dns mosa --promote --zone "$tmp/mosa.zone" >/dev/null ||
    die "token set-up failed"
K dns mosa | /usr/bin/python3 -c '
import re, sys
t = sys.stdin.read()
m = re.search(r"sel1-\S+ IN TXT \((.*?)\)", t, re.S)
print("stxsel1._domainkey.mosamuseum.com %s" % "".join(re.findall(r"\"([^\"]*)\"", m.group(1))))
' >"$tmp/keys.txt"
# OpenDKIM runs with "Syslog no"; p11dkimd writes its line per message
# to a file (the machine may have no syslog daemon to take them).
"$top/$BUILD/p11dkimd" -f -c "$tmp/p11dkim.conf" 2>"$tmp/p11dkimd.log" &
daemon=$!
for _ in $(seq 300); do [ -S "$tmp/milter.sock" ] && break; sleep 0.1; done
[ -S "$tmp/milter.sock" ] || die "p11dkimd did not start: $(tail -n 5 "$tmp/p11dkimd.log")"

opendkim_start "$tmp/opendkim" || die "OpenDKIM did not start"

# The token's own ceiling, for scale: raw C_Sign, 2 threads (the cores).
"$top/$BUILD/bench/token_bench" -m "$MOD" -t mosa -p "file:$tmp/mosa.pin" \
    -k mosa-stxsel1 -c 2 -d 3 -M raw >"$tmp/ceiling.out" 2>&1 ||
	die "token_bench failed: $(cat "$tmp/ceiling.out")"
ceiling=$(sed -n 's/^result: raw_s=\([0-9.]*\).*/\1/p' "$tmp/ceiling.out")
cpu=$(sed -n 's/.*raw_cpu_us=\([0-9.]*\).*/\1/p' "$tmp/ceiling.out")

o=""; p=""
for i in $(seq "$TRIALS"); do
	r=$(milter_rate "$OPENDKIM_SOCK" "$SECS" "$OPENDKIM_KEYTABLE") || die "OpenDKIM trial failed"
	o="$o $r"
	r=$(milter_rate "unix:$tmp/milter.sock" "$SECS" "$tmp/keys.txt") || die "p11dkimd trial failed"
	p="$p $r"
	echo "trial $i: opendkim $(echo $o | awk '{print $NF}') msg/s, p11dkimd $r msg/s" >&2
done
om=$(median $o)
pm=$(median $p)
echo "milter, $MB_CONNS connection(s), small messages, $TRIALS x $SECS s alternating:"
printf '  %-28s %10s msg/s   (trials:%s)\n' "OpenDKIM (key file)" "$om" "$o"
printf '  %-28s %10s msg/s   (trials:%s)\n' "p11dkimd (SoftHSM2 token)" "$pm" "$p"
ratio=$(awk -v a="$pm" -v b="$om" 'BEGIN { printf "%.2f", a / b }')
echo "  ratio p11dkimd / OpenDKIM: $ratio"
echo "  the token alone (C_Sign, 2 threads, no mail, no client): ${ceiling:-?} signs/s, ${cpu:-?} us CPU per signature"
awk -v r="$ratio" 'BEGIN { exit !(r >= 2) }' && verdict=PASS || verdict=FAIL
if [ "$MB_CONNS" = 2 ]; then
	echo "target: p11dkimd >= 2x OpenDKIM messages/s: $verdict (${ratio}x)"
else
	echo "target: defined for 2 connections, not $MB_CONNS: not judged (${ratio}x)"
fi
