#!/bin/sh
# opendkim_fixture_test.sh - proves tests/milter/postfix_fixture.sh with a
# milter we did not write: OpenDKIM signs, Postfix relays, and the
# independent verifiers (dkimpy, Mail::DKIM) check what Postfix delivered.
#
#   tests/milter/opendkim_fixture_test.sh        (as root; KEEP=1 keeps $T)
#
# One RSA-2048 key (opendkim-genkey) for mosamuseum.com, selector stxsel1.
# Two rounds, each with a fresh OpenDKIM and a fresh Postfix instance:
# Canonicalization relaxed/relaxed, then simple/simple.  Each round sends
# three messages through smtpd (swaks) and one through sendmail (pickup,
# non_smtpd_milters), waits for smtp-sink to have all four, and then:
#   - every delivered message carries exactly one DKIM-Signature with
#     d=mosamuseum.com, s=stxsel1 and the round's c=;
#   - verify_dkimpy.py and verify_maildkim.pl both pass it;
#   - one delivered message with a changed body byte fails both (so the
#     verifiers are really looking).
# The messages have folded headers, runs of spaces and tabs, trailing
# whitespace, leading dots, a literal "\n" and "%DATE%", 8-bit text and an
# LF-only file: the bytes where an MTA or its client might change a
# message.  Last line: "opendkim-fixture: N passed, M failed" (one check
# per message and verifier, plus the checks above); exit 0 iff M is 0.
#
# Security notes: everything lives under one mktemp -d directory, removed
# at the end; OpenDKIM runs as root (UserID root) only so that it can read
# a key file owned by root in that directory; its socket is mode 777 (UMask
# 000) in a directory of its own so that user postfix can connect.
# RequireSafeKeys is off: OpenDKIM 2.11 refuses a key file *and its
# configuration file* when any directory above them is writable by others,
# sticky bit or not, so nothing under /tmp would do; the key is a
# throw-away one in a root-owned mode 711 directory.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/milter/postfix_fixture.sh"

DOMAIN=mosamuseum.com
SELECTOR=stxsel1
XV=$top/tests/xverify

passed=0
failed=0
odkim_pid=

# fail / pass - count one check
fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
}
pass() {
	echo "PASS $*"
	passed=$((passed + 1))
}

# stop_opendkim - end the OpenDKIM this script started, if any
stop_opendkim() {
	if [ -n "$odkim_pid" ]; then
		kill "$odkim_pid" 2>/dev/null
		wait "$odkim_pid" 2>/dev/null
		odkim_pid=
	fi
}

cleanup() {
	pf_stop
	stop_opendkim
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
}

[ "$(id -u)" = 0 ] || { echo "opendkim_fixture_test: run as root" >&2; exit 1; }
for tool in opendkim opendkim-genkey postfix smtp-sink swaks openssl \
    python3 perl runuser script; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "opendkim_fixture_test: $tool missing (apt-get install" \
		    "postfix swaks opendkim opendkim-tools)" >&2
		exit 1
	}
done

T=$(mktemp -d "${TMPDIR:-/tmp}/opendkim-fixture.XXXXXX") || exit 1
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# user postfix has to pass through $T to the milter socket and to the
# Postfix instance's own directories (mktemp -d made it 700)
chmod 711 "$T"

# make_key - RSA-2048 key and the KEYTABLE line for the verifiers
make_key() {
	mkdir -p "$T/keys" && chmod 700 "$T/keys" &&
	    opendkim-genkey -b 2048 -d "$DOMAIN" -s "$SELECTOR" -D "$T/keys" ||
	    return 1
	# the TXT text straight from the private key, not from genkey's zone
	# file, so a mistake in one cannot hide in the other
	printf '%s._domainkey.%s v=DKIM1; k=rsa; p=%s\n' "$SELECTOR" "$DOMAIN" \
	    "$(openssl pkey -in "$T/keys/$SELECTOR.private" -pubout -outform DER |
	    base64 -w0)" >"$T/keytable"
}

# write_messages - the four test messages in $T/msg/
write_messages() {
	mkdir -p "$T/msg" || return 1
	printf '%s\r\n' \
	    "From: Ticket Desk <tickets@$DOMAIN>" \
	    "To: Visitor <visitor@example.org>" \
	    "Subject: Your tickets" \
	    "Date: Thu, 26 Nov 2026 10:00:00 +0000" \
	    "Message-ID: <fixture-1@$DOMAIN>" \
	    "" \
	    "Dear visitor," \
	    "" \
	    "your two tickets for Saturday are confirmed." \
	    "" \
	    "The museum" >"$T/msg/1-plain.eml"
	printf '%s\r\n' \
	    "From:   tickets@$DOMAIN  " \
	    "To: visitor@example.org," \
	    "	second@example.org,	  third@example.org" \
	    "Subject:  Folded	and  spaced" \
	    "   subject  line  " \
	    "Date: Thu, 26 Nov 2026 10:01:00 +0000" \
	    "Message-ID: <fixture-2@$DOMAIN>" \
	    "X-Trailing:	tab and space 	 " \
	    "" \
	    "Trailing spaces here:   " \
	    "	tab first, two  spaces, tab	inside" \
	    "" \
	    "" \
	    "" >"$T/msg/2-whitespace.eml"
	printf '%s\r\n' \
	    "From: tickets@$DOMAIN" \
	    "To: visitor@example.org" \
	    "Subject: =?UTF-8?Q?Caf=C3=A9_opening?=" \
	    "Date: Thu, 26 Nov 2026 10:02:00 +0000" \
	    "Message-ID: <fixture-3@$DOMAIN>" \
	    "MIME-Version: 1.0" \
	    "Content-Type: text/plain; charset=UTF-8" \
	    "Content-Transfer-Encoding: 8bit" \
	    "" \
	    ".a line that starts with a dot" \
	    "..two dots" \
	    "." \
	    "a literal \\n and %DATE% and %NEWLINE% stay as they are" \
	    "Café, Müller, Ørsted: 8-bit text" >"$T/msg/3-dots-8bit.eml"
	# LF only, as a local program would hand it to sendmail
	printf '%s\n' \
	    "From: Museum Shop <shop@$DOMAIN>" \
	    "To: visitor@example.org" \
	    "Subject: A long subject that is folded over" \
	    " two lines by the local program" \
	    "Date: Thu, 26 Nov 2026 10:03:00 +0000" \
	    "Message-ID: <fixture-4@$DOMAIN>" \
	    "" \
	    "Sent through sendmail -C, so through pickup and cleanup's" \
	    "non_smtpd_milters." >"$T/msg/4-sendmail-lf.eml"
}

# start_opendkim CANON - OpenDKIM on $T/milter/CANON.sock, in the foreground
start_opendkim() {
	local name conf sock n=0
	name=$(echo "$1" | tr / -)
	conf=$T/opendkim-$name.conf
	sock=$T/milter/$name.sock
	mkdir -p "$T/milter" && chmod 755 "$T/milter" || return 1
	cat >"$conf" <<EOF
Mode			s
Domain			$DOMAIN
Selector		$SELECTOR
KeyFile			$T/keys/$SELECTOR.private
Socket			local:$sock
Canonicalization	$1
InternalHosts		127.0.0.1
UserID			root
UMask			000
RequireSafeKeys		no
Background		no
Syslog			no
EOF
	opendkim -f -x "$conf" >"$T/opendkim-$name.log" 2>&1 &
	odkim_pid=$!
	while [ ! -S "$sock" ]; do
		if ! kill -0 "$odkim_pid" 2>/dev/null || [ "$n" -ge 100 ]; then
			echo "opendkim did not create $sock:" >&2
			cat "$T/opendkim-$name.log" >&2
			return 1
		fi
		sleep 0.1
		n=$((n + 1))
	done
	SOCK=$sock
}

# check_signature FILE CANON - exactly one DKIM-Signature, ours, with c=CANON
check_signature() {
	python3 - "$1" "$2" "$DOMAIN" "$SELECTOR" <<'EOF'
import email.parser, email.policy, re, sys
path, canon, domain, selector = sys.argv[1:]
msg = email.parser.BytesParser(policy=email.policy.compat32).parse(
    open(path, "rb"), headersonly=True)
sigs = msg.get_all("DKIM-Signature") or []
if len(sigs) != 1:
    sys.exit("%d DKIM-Signature fields, want 1" % len(sigs))
tags = {}
for t in re.sub(r"\s+", "", sigs[0]).split(";"):
    if "=" in t:
        k, v = t.split("=", 1)
        tags[k] = v
want = {"d": domain, "s": selector, "c": canon, "a": "rsa-sha256"}
bad = ["%s=%s (want %s)" % (k, tags.get(k), v)
       for k, v in want.items() if tags.get(k) != v]
if bad:
    sys.exit("signature " + ", ".join(bad))
EOF
}

# verify_all CANON FILE... - both verifiers on every file, signature checks
verify_all() {
	local canon="$1" f out
	shift
	for f; do
		if out=$(check_signature "$f" "$canon" 2>&1); then
			pass "$canon signature fields: $f"
		else
			fail "$canon signature fields: $f: $out"
		fi
	done
	for verifier in verify_dkimpy.py verify_maildkim.pl; do
		"$XV/$verifier" "$T/keytable" "$@" >"$T/verify.out" 2>&1
		while read -r word rest; do
			case $word in
			PASS) pass "$canon $verifier: $rest" ;;
			FAIL | SKIP) fail "$canon $verifier: $rest" ;;
			esac
		done <"$T/verify.out"
		# a verifier that died before judging every file
		if [ "$(grep -cE '^(PASS|FAIL|SKIP) ' "$T/verify.out")" -ne $# ]; then
			fail "$canon $verifier did not judge all $# files:"
			cat "$T/verify.out"
		fi
	done
}

# tamper_check CANON FILE - a changed body byte must fail both verifiers
tamper_check() {
	local bad
	bad=$T/tampered-$(echo "$1" | tr / -).eml
	python3 - "$2" "$bad" <<'EOF' || { fail "$1 tamper: cannot make $bad"; return; }
import sys
data = open(sys.argv[1], "rb").read()
head, sep, body = data.partition(b"\r\n\r\n")
i = next(i for i, c in enumerate(body) if chr(c).isalpha())
body = body[:i] + bytes([body[i] ^ 0x20]) + body[i + 1:]
open(sys.argv[2], "wb").write(head + sep + body)
EOF
	for verifier in verify_dkimpy.py verify_maildkim.pl; do
		if "$XV/$verifier" --expect-fail "$T/keytable" "$bad" \
		    >"$T/verify.out" 2>&1; then
			pass "$1 $verifier rejects a changed body: $bad"
		else
			fail "$1 $verifier accepted a changed body: $(cat "$T/verify.out")"
		fi
	done
}

# check_arrived ROUND_DIR - every Message-ID sent came out exactly once
check_arrived() {
	local id count
	for id in 1 2 3 4; do
		count=$(grep -l "^Message-ID: <fixture-$id@" "$1"/clean/*.eml \
		    2>/dev/null | wc -l)
		if [ "$count" -eq 1 ]; then
			pass "message $id delivered once"
		else
			fail "message $id delivered $count times"
		fi
	done
}

# round CANON - one OpenDKIM + Postfix run, four messages, all checks
round() {
	local canon="$1" dir f n=0
	dir=$T/pf-$(echo "$canon" | tr / -)
	echo "== Canonicalization $canon"
	start_opendkim "$canon" || { fail "$canon: opendkim start"; return; }
	if ! pf_start "$dir" "unix:$SOCK"; then
		fail "$canon: postfix fixture start"
		stop_opendkim
		return
	fi
	for f in 1-plain 2-whitespace 3-dots-8bit; do
		pf_send_smtp "tickets@$DOMAIN" visitor@example.org \
		    "$T/msg/$f.eml" || fail "$canon: swaks $f"
	done
	pf_send_sendmail "shop@$DOMAIN" visitor@example.org \
	    "$T/msg/4-sendmail-lf.eml" || fail "$canon: sendmail 4-sendmail-lf"
	if pf_wait_delivered 4 60; then
		mkdir -p "$dir/clean"
		for f in "$dir"/out/*; do
			n=$((n + 1))
			pf_delivered_clean "$f" "$dir/clean/$n.eml" ||
			    fail "$canon: cannot clean $f"
		done
		check_arrived "$dir"
		verify_all "$canon" "$dir"/clean/*.eml
		tamper_check "$canon" "$dir/clean/1.eml"
	else
		fail "$canon: not all 4 messages delivered"
	fi
	pf_stop
	stop_opendkim
}

make_key || { echo "opendkim_fixture_test: key generation failed" >&2; exit 1; }
write_messages || exit 1
round relaxed/relaxed
round simple/simple
echo "opendkim-fixture: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
