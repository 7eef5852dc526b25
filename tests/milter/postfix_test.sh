#!/bin/sh
# postfix_test.sh - a real Postfix signs through p11dkimd's milter front.
#
# A private Postfix (tests/milter/postfix_fixture.sh) passes mail to the
# milter of a p11dkimd on SoftHSM2 tokens and relays it to a sink; each
# delivered message is verified by dkimpy and Mail::DKIM with the keys
# `p11dkim-keys dns` prints.  Two institutions: one signs relaxed/relaxed,
# the other simple/simple (which fails unless the header whitespace is
# kept exactly as Postfix sends it: SMFIP_HDR_LEADSPC).  Both the SMTP
# path (swaks) and the non-SMTP path (Postfix's sendmail) are used; mail
# for a foreign domain passes unsigned.  Both institutions list 127.0.0.1
# in milter-hosts: Postfix's smtpd passes swaks's loopback address, and
# its non-SMTP mail reaches milters as 127.0.0.1 too.
#
# Set up as README.md says for Debian's Postfix, whose smtpd and cleanup
# run chrooted in the queue directory (kept so here: PF_CHROOT=1): the
# socket in a folder p11dkim/ of the queue directory, root:postfix 0750,
# the socket group postfix 0660, the fronts as an unprivileged user, and
# main.cf's "smtpd_milters = unix:p11dkim/milter.sock".
#
# Run through tests/integration/run.sh.  Last line:
# "postfix-test: N passed, M failed".
set -u
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
T=${P11DKIM_TEST_DIR:?run through tests/integration/run.sh}
MOD=${P11DKIM_TEST_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
KEYS="$top/$BUILD/p11dkim-keys"
PY=/usr/bin/python3
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
	echo "postfix-test: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

. "$top/tests/milter/postfix_fixture.sh"

daemon_pid=
cleanup() {
	pf_stop
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# The milter socket and every folder above it must be reachable by the
# postfix user (POSTFIX-TEST-NOTES.md).
chmod 0711 "$T"
umask 077
# The queue directory's folder for the socket, as
# examples/p11dkim-postfix.tmpfiles makes /var/spool/postfix/p11dkim.
Q=$T/pf/queue
MILTER_SOCK=$Q/p11dkim/milter.sock
mkdir -p "$Q/p11dkim"
chmod 0755 "$T/pf" "$Q"
chown root:postfix "$Q/p11dkim"
chmod 0750 "$Q/p11dkim"
mkdir -p "$T/state"
printf 'so-pin-12345678\n' >"$T/so.pin"
printf 'mosa-pin-12345678\n' >"$T/mosa.pin"
printf 'simp-pin-12345678\n' >"$T/simp.pin"
cat >"$T/p11dkim.conf" <<CONF
pkcs11-module = "$MOD"
provider-zone = "dkim.example.net"
record-name = "sel%n-%c"
selectors = { "stxsel1", "stxsel2" }
state-dir = "$T/state"
ceremony-log = "$T/state/ceremony.log"
log = "stderr"
user = "nobody"
milter "unix:$MILTER_SOCK" {
	group = "postfix"
	mode = "0660"
}
institution mosa {
	domains = { "mosamuseum.com" }
	pin = "file:$T/mosa.pin"
	active-selector = "stxsel1"
	canonicalization = "relaxed/relaxed"
	milter-hosts = { "127.0.0.1" }
}
institution simp {
	domains = { "simple.example.org" }
	pin = "file:$T/simp.pin"
	active-selector = "stxsel1"
	canonicalization = "simple/simple"
	milter-hosts = { "127.0.0.1" }
}
CONF
K() { "$KEYS" -c "$T/p11dkim.conf" --operator test "$@"; }
for i in mosa simp; do
	K init-token "$i" --so-pin "file:$T/so.pin" --pin "file:$T/$i.pin" >/dev/null || bad "init-token $i"
	K generate "$i" >/dev/null || bad "generate $i"
	# New institutions are pending: confirm their DNS (as if published).
	K dns "$i" >"$T/$i.zone"
	K check-dns "$i" --promote --zone "$T/$i.zone" >/dev/null || bad "check-dns --promote $i"
done
# The key table for the verifiers, from what `dns` prints.
: >"$T/keys.txt"
for pair in mosa:mosamuseum.com simp:simple.example.org; do
	i=${pair%%:*} d=${pair#*:}
	K dns "$i" | $PY -c '
import re, sys
t = sys.stdin.read()
m = re.search(r"sel1-\S+ IN TXT \((.*?)\)", t, re.S)
print("stxsel1._domainkey.%s %s" % (sys.argv[1], "".join(re.findall(r"\"([^\"]*)\"", m.group(1)))))
' "$d" >>"$T/keys.txt"
done

"$top/$BUILD/p11dkimd" -f -c "$T/p11dkim.conf" >"$T/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$MILTER_SOCK" ] && break; sleep 0.1; done
[ -S "$MILTER_SOCK" ] || { bad "p11dkimd did not start"; cat "$T/daemon.log"; finish; }

# main.cf as README.md says (the fixture adds the private instance's own
# settings: queue, ports, relay to the sink).
PF_CHROOT=1
pf_start "$T/pf" unix:p11dkim/milter.sock 'non_smtpd_milters = $smtpd_milters' \
    'milter_default_action = tempfail' || { bad "Postfix did not start"; finish; }
for svc in smtpd cleanup; do
	if awk -v s="$svc" '$NF == s && $2 == "unix" || $NF == s && $2 == "inet" { print $5 }' \
	    "$PF_CONF/master.cf" | grep -qv '^n$'; then ok; else bad "$svc is not chrooted"; fi
done

# message FROM-DOMAIN TAG - a message with folding, odd spacing and a tab
message() {
	printf 'From: Tickets <tickets@%s>\r\nTo: Visitor <visitor@example.org>\r\nSubject:  Your\r\n\ttickets  (%s)\r\nDate: Thu, 26 Nov 2026 10:00:00 +0100\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDear visitor,\r\n\r\nyour  tickets\tare attached.  \r\n\r\n\r\n' "$1" "$2" "$2" "$1"
}
n=0
for d in mosamuseum.com simple.example.org; do
	for path in smtp sendmail; do
		n=$((n + 1))
		message "$d" "$path-$n" >"$T/in-$n.eml"
		if [ $path = smtp ]; then
			pf_send_smtp "tickets@$d" visitor@example.org "$T/in-$n.eml" || bad "send $n"
		else
			pf_send_sendmail "tickets@$d" visitor@example.org "$T/in-$n.eml" || bad "send $n"
		fi
	done
done
n=$((n + 1))
message unknown.example foreign >"$T/in-$n.eml"
pf_send_smtp tickets@unknown.example visitor@example.org "$T/in-$n.eml" || bad "send foreign"
if pf_wait_delivered "$n" 60; then ok; else bad "not all $n messages were delivered"; fi

mkdir -p "$T/got"
signed=0
for f in "$PF_DIR"/out/*; do
	[ -f "$f" ] || continue
	pf_delivered_clean "$f" "$T/got/$(basename "$f").eml" || bad "clean $f"
done
for f in "$T"/got/*.eml; do
	if grep -q 'unknown.example' "$f"; then
		if grep -qi '^DKIM-Signature:' "$f"; then bad "foreign mail was signed"; else ok; fi
		continue
	fi
	signed=$((signed + 1))
	canon=$(tr -d '\r\n\t ' <"$f" | grep -o 'c=[a-z]*/[a-z]*' | head -1)
	if $PY "$top/tests/xverify/verify_dkimpy.py" "$T/keys.txt" "$f" >"$T/v.out" 2>&1; then ok; else bad "dkimpy ($canon): $(cat "$T/v.out")"; fi
	if perl "$top/tests/xverify/verify_maildkim.pl" "$T/keys.txt" "$f" >"$T/v.out" 2>&1; then ok; else bad "Mail::DKIM ($canon): $(cat "$T/v.out")"; fi
done
if [ "$signed" -eq 4 ]; then ok; else bad "$signed signed messages delivered, wanted 4"; fi
if grep -q 'c=simple/simple' "$T"/got/*.eml && grep -q 'c=relaxed/relaxed' "$T"/got/*.eml; then ok; else bad "both canonicalizations were not seen"; fi
if grep -q 'signed inst=simp' "$T/daemon.log"; then ok; else bad "no signing logged"; fi
# Each message's line carries Postfix's queue ID (the "i" macro; smtpd has
# none yet at MAIL, only from DATA on), d= and s=; the foreign one is an
# info line "unsigned".
for tag in smtp-1 sendmail-2 smtp-3 sendmail-4 foreign; do
	qid=$(sed -n "s/.* \([0-9A-Za-z]*\): message-id=<$tag@.*/\1/p" "$PF_DIR/maillog" | head -1)
	line=$(grep "msgid=<$tag@" "$T/daemon.log")
	case $tag:$line in
	foreign:*"]: unsigned inst=- d=- s=- "*" queue=$qid reason=domain unknown.example is not signed here") ok ;;
	foreign:*) bad "foreign mail not logged at info with queue=$qid: $line" ;;
	*"]: signed inst="*" d="*" s=stxsel1 "*" client="*" queue=$qid") [ -n "$qid" ] && ok || bad "no queue ID for $tag in the maillog" ;;
	*) bad "$tag not logged with d=, s= and queue=$qid: $line" ;;
	esac
done
# An smtpd of this instance ran in the jail (it lingers, idle, for a while).
jailed=0
for pid in $(pgrep -x smtpd); do
	[ "$(readlink "/proc/$pid/root")" = "$Q" ] && jailed=1
done
if [ $jailed = 1 ]; then ok; else bad "no smtpd chrooted in $Q"; fi
finish
