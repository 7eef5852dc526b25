#!/bin/sh
# sign_test.sh - p11dkim-sign against a fake daemon (fake_daemon.py).
#
# Checks that the output is the signature field(s) then the input byte for
# byte (CRLF and LF input, FILE, stdin as a file and as a pipe, 20 MiB
# from a pipe with a bounded peak RSS), that failures leave stdout empty
# with the sysexits.h status (65, 75, 77, 64, 74) and one line on stderr.
#
#   P11DKIM_SIGN=build/p11dkim-sign tests/client/sign_test.sh
#   P11DKIM_SIGN_WRAPPER='valgrind -q --error-exitcode=99' ...
#
# The last line is the summary: client-test: N passed, M failed
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
SIGN=${P11DKIM_SIGN:-build/p11dkim-sign}
case $SIGN in /*) ;; *) SIGN=$top/$SIGN ;; esac
WRAP=${P11DKIM_SIGN_WRAPPER:-}
# AddressSanitizer's shadow memory alone is over the RSS limit: a
# sanitized build (build-san/, make check SAN=1) is checked for the bytes,
# not for its memory, as under a wrapper.
case $SIGN in */build-san/*) SANITIZED=AddressSanitizer ;; *) SANITIZED= ;; esac
PY=/usr/bin/python3
RSS_LIMIT_KB=16384
# Under AddressSanitizer (BUILD=build-san, as make check SAN=1 runs it)
# shadow memory and the allocator add about 18 MiB whatever the input; a
# client that buffered the 20 MiB message would still go past 32 MiB.
case ${BUILD:-build} in *-san) RSS_LIMIT_KB=32768 ;; esac

passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11dkim-sign-test.XXXXXX") || exit 1
daemon_pid=

# cleanup - stop the fake daemon we started, remove the directory
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ok NAME / nok NAME WHY - count and show one result
ok() { passed=$((passed + 1)); echo "ok   $1"; }
nok() {
	failed=$((failed + 1))
	echo "FAIL $1: $2"
	sed 's/^/     stderr: /' "$tmp/err" 2>/dev/null | head -5
}

# sign ARGS... - run p11dkim-sign (stdin from the caller); status in $tmp/rc
sign() {
	$WRAP "$SIGN" "$@" >"$tmp/out" 2>"$tmp/err"
	echo $? >"$tmp/rc"
}

# expect NAME RC [WANT] - status RC; stdout is WANT (or empty on failure)
expect() {
	name=$1 want_rc=$2 want=${3:-}
	rc=$(cat "$tmp/rc")
	if [ "$rc" != "$want_rc" ]; then
		nok "$name" "exit $rc, want $want_rc"
	elif [ -n "$want" ] && ! cmp -s "$tmp/out" "$want"; then
		nok "$name" "output differs from $(basename "$want")"
	elif [ -z "$want" ] && [ -s "$tmp/out" ]; then
		nok "$name" "stdout not empty on failure"
	elif [ "$want_rc" = 0 ] && [ -s "$tmp/err" ]; then
		nok "$name" "stderr not empty on success"
	elif [ "$want_rc" != 0 ] && { [ "$(wc -l <"$tmp/err")" -ne 1 ] ||
	    ! grep -q '^p11dkim-sign: ' "$tmp/err"; }; then
		nok "$name" "stderr is not one line 'p11dkim-sign: ...'"
	else
		ok "$name"
	fi
}

# expect_err NAME TEXT - the last stderr contains TEXT
expect_err() {
	if grep -qF -- "$2" "$tmp/err"; then ok "$1"; else nok "$1" "stderr lacks '$2'"; fi
}

# expect_log NAME PATTERN - the fake daemon's last log line matches PATTERN
expect_log() {
	line=$(tail -1 "$tmp/log" 2>/dev/null)
	if echo "$line" | grep -qE -- "$2"; then ok "$1"; else nok "$1" "log line '$line'"; fi
}

# message FILE EOL SUBJECT - a small message with CRLF or LF line endings
message() {
	printf 'From: Ana <ana@example.org>\nTo: bo@example.net\nSubject: %s\nMessage-ID: <1@example.org>\n\nHello,\n\n  two spaces, a tab\there.\n-- \nAna\n' "$3" |
	    if [ "$2" = crlf ]; then sed 's/$/\r/'; else cat; fi >"$1"
}

# want FILE FIELDS EOL INPUT - the expected output: fields, then input
want() {
	if [ "$3" = crlf ]; then printf '%b' "$2"; else printf '%b' "$2" | tr -d '\r'; fi >"$1"
	cat "$4" >>"$1"
}

# start_daemon - the fake daemon on $sock, logging to $tmp/log
start_daemon() {
	sock=$tmp/p11dkimd.sock
	"$PY" "$top/tests/client/fake_daemon.py" "$sock" "$tmp/log" 2>"$tmp/daemon.err" &
	daemon_pid=$!
	i=0
	while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -S "$sock" ] || { echo "fake daemon did not start"; cat "$tmp/daemon.err"; exit 1; }
}

# peak_rss_kb CMD... - run CMD (stdin from the caller), print its peak RSS
peak_rss_kb() {
	/usr/bin/time -f %M -o "$tmp/rss" "$@" >"$tmp/out" 2>"$tmp/err"
	echo $? >"$tmp/rc"
	tail -1 "$tmp/rss"
}

[ -x "$SIGN" ] || { echo "no executable $SIGN (set P11DKIM_SIGN)"; echo "client-test: 0 passed, 1 failed"; exit 1; }
start_daemon
FIELD='DKIM-Signature: v=1; a=rsa-sha256; b=x\r\n'
TWO='DKIM-Signature: v=1; a=ed25519-sha256; d=example.org;\r\n\tb=y\r\n'$FIELD

# --- signed: the field(s) then the input, byte for byte -------------------
message "$tmp/crlf.eml" crlf hello
message "$tmp/lf.eml" lf hello
want "$tmp/crlf.want" "$FIELD" crlf "$tmp/crlf.eml"
want "$tmp/lf.want" "$FIELD" lf "$tmp/lf.eml"

sign -s "$sock" "$tmp/crlf.eml" </dev/null;	expect "CRLF, FILE" 0 "$tmp/crlf.want"
sign -s "$sock" <"$tmp/crlf.eml";		expect "CRLF, stdin a file" 0 "$tmp/crlf.want"
cat "$tmp/crlf.eml" | sign -s "$sock";		expect "CRLF, stdin a pipe" 0 "$tmp/crlf.want"
sign -s "$sock" - <"$tmp/crlf.eml";		expect "CRLF, FILE -" 0 "$tmp/crlf.want"
sign -s "$sock" "$tmp/lf.eml";			expect "LF, FILE (field in LF)" 0 "$tmp/lf.want"
cat "$tmp/lf.eml" | sign -s "$sock";		expect "LF, stdin a pipe" 0 "$tmp/lf.want"
P11DKIM_SOCKET=$sock sign <"$tmp/lf.eml";	expect "socket from \$P11DKIM_SOCKET" 0 "$tmp/lf.want"

message "$tmp/two.eml" lf twosig
want "$tmp/two.want" "$TWO" lf "$tmp/two.eml"
cat "$tmp/two.eml" | sign -s "$sock";		expect "two folded fields, LF" 0 "$tmp/two.want"
message "$tmp/two-crlf.eml" crlf twosig
want "$tmp/two-crlf.want" "$TWO" crlf "$tmp/two-crlf.eml"
sign -s "$sock" "$tmp/two-crlf.eml";		expect "two folded fields, CRLF" 0 "$tmp/two-crlf.want"

# stdin a file, not at its start: the message starts where stdin stands
{ printf 'not part of the message\n'; cat "$tmp/crlf.eml"; } >"$tmp/offset.eml"
(read -r _skip; sign -s "$sock") <"$tmp/offset.eml"
expect "stdin a file at an offset" 0 "$tmp/crlf.want"

sign -s "$sock" -d example.org -t 5 "$tmp/lf.eml"
expect "-d DOMAIN -t 5" 0 "$tmp/lf.want"
expect_log "-d DOMAIN reaches the daemon" '^domain=example\.org '

# no LF at all: the fields stay CRLF
printf 'Subject: x' >"$tmp/nolf.eml"
want "$tmp/nolf.want" "$FIELD" crlf "$tmp/nolf.eml"
sign -s "$sock" <"$tmp/nolf.eml";		expect "no line end: CRLF field" 0 "$tmp/nolf.want"

# --- 20 MiB from a pipe: spooled, streamed, bounded memory --------------
"$PY" - "$tmp/big.eml" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"From: ana@example.org\nSubject: big\n\n")
    line = bytes(range(32, 127)) + b"\n"          # 96 bytes a line
    f.write(line * (20 * 1024 * 1024 // len(line) + 1))
EOF
want "$tmp/big.want" "$FIELD" lf "$tmp/big.eml"
if [ -z "$WRAP" ] && [ -z "$SANITIZED" ]; then
	kb=$(cat "$tmp/big.eml" | peak_rss_kb "$SIGN" -s "$sock")
	expect "20 MiB from a pipe" 0 "$tmp/big.want"
	if [ "${kb:-999999}" -lt "$RSS_LIMIT_KB" ]; then ok "20 MiB: peak RSS ${kb} KiB < ${RSS_LIMIT_KB} KiB"
	else nok "20 MiB: peak RSS" "${kb:-?} KiB, limit ${RSS_LIMIT_KB} KiB"; fi
else
	cat "$tmp/big.eml" | sign -s "$sock"
	expect "20 MiB from a pipe (RSS not measured under $WRAP$SANITIZED)" 0 "$tmp/big.want"
fi
expect_log "20 MiB: all bytes arrived" "bytes=$(wc -c <"$tmp/big.eml" | tr -d ' ') .*verdict=OK"
maxframe=$(tail -1 "$tmp/log" | sed -n 's/.* maxframe=\([0-9]*\) .*/\1/p')
if [ "${maxframe:-0}" -gt 0 ] && [ "$maxframe" -le 1048576 ]; then ok "20 MiB: DATA frames <= 1 MiB (largest $maxframe)"
else nok "20 MiB: DATA frames <= 1 MiB" "largest '$maxframe'"; fi
sign -s "$sock" "$tmp/big.eml";			expect "20 MiB FILE, re-read" 0 "$tmp/big.want"

# --- refusals and failures: nothing on stdout ---------------------------
message "$tmp/perm.eml" crlf permfail
message "$tmp/noauth.eml" crlf notauth
message "$tmp/temp.eml" lf tempfail
message "$tmp/stall.eml" lf stall
sign -s "$sock" "$tmp/perm.eml";		expect "PERMFAIL bad message -> 65" 65
expect_err "PERMFAIL reason on stderr" "PERMFAIL from p11dkimd at $sock: bad message"
cat "$tmp/noauth.eml" | sign -s "$sock";	expect "PERMFAIL not authorized -> 77" 77
sign -s "$sock" <"$tmp/temp.eml";		expect "TEMPFAIL -> 75" 75
expect_err "TEMPFAIL reason on stderr" "TEMPFAIL from p11dkimd at $sock: token unavailable"
sign -s "$sock" -t 1 "$tmp/stall.eml";		expect "no reply within -t 1 -> 75" 75
expect_err "timeout names the socket" "$sock: timed out"

# the daemon refuses after the first frame and closes: EPIPE, reply still read
{ printf 'From: ana@example.org\nSubject: early\n\n'; cat "$tmp/big.eml"; } >"$tmp/early.eml"
cat "$tmp/early.eml" | sign -s "$sock";		expect "early PERMFAIL and close -> 65" 65
expect_err "early PERMFAIL reason" "message too large"

sign -s "$tmp/nobody.sock" "$tmp/lf.eml";	expect "daemon not running -> 75" 75
expect_err "reason names the socket" "connect to $tmp/nobody.sock"
"$PY" -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$tmp/stale.sock"
sign -s "$tmp/stale.sock" <"$tmp/lf.eml";	expect "stale socket, refused -> 75" 75
# (not under the wrapper: valgrind needs $TMPDIR itself)
cat "$tmp/lf.eml" | (WRAP=; TMPDIR=$tmp/no-such-dir sign -s "$sock")
expect "no spool directory -> 75" 75
expect_err "spool failure names the directory" "spool file in $tmp/no-such-dir"

sign -s "$sock" "$tmp/no-such.eml";		expect "FILE missing -> 74" 74
sign -s "$sock" "$tmp";				expect "FILE a directory -> 74" 74
{ $WRAP "$SIGN" -s "$sock" "$tmp/big.eml" 2>"$tmp/err"; echo $? >"$tmp/rc"; } | head -c 100 >/dev/null
rc=$(cat "$tmp/rc")
if [ "$rc" = 74 ] && grep -q 'standard output: Broken pipe' "$tmp/err"; then ok "reader goes away -> 74"
else nok "reader goes away -> 74" "exit $rc"; fi

: >"$tmp/out"; $WRAP "$SIGN" -s "$sock" "$tmp/lf.eml" >&- 2>"$tmp/err"; echo $? >"$tmp/rc"
expect "stdout closed -> 74" 74
expect_err "stdout closed: said so" "standard output is closed"
sign -s "$sock" <&-;				expect "stdin closed -> 74" 74

version=$(awk 'NR == 1 { gsub(/[()]/, "", $2); print $2 }' "$top/debian/changelog")
echo "p11dkim-sign $version" >"$tmp/version"
sign --version </dev/null;			expect "--version: name and debian/changelog's version" 0 "$tmp/version"
sign -x </dev/null;				expect "unknown option -> 64" 64
sign --frob </dev/null;				expect "unknown long option -> 64" 64
expect_err "unknown long option: named" "--frob: unknown option"
sign -s "$sock" a b </dev/null;			expect "two FILEs -> 64" 64
sign -s "$sock" -t 0 "$tmp/lf.eml";		expect "-t 0 -> 64" 64
sign -s "$sock" -t 1x "$tmp/lf.eml";		expect "-t 1x -> 64" 64
sign -s "$sock" -t </dev/null;			expect "-t without a value -> 64" 64
sign -s "$sock" -d 'a b' "$tmp/lf.eml";		expect "-d with a space -> 64" 64
sign -s "$(printf '%0200d' 0)" "$tmp/lf.eml";	expect "socket path too long -> 64" 64

echo "client-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
