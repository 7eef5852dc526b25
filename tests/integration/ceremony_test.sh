#!/bin/sh
# ceremony_test.sh - ceremonies in a production set-up: signer-user set,
# the token store owned by whoever ran the ceremony, ceremonies run as
# root and as the signer user (runuser, as nobody).
#
#  - ownership: a store made by root is invisible to the signer; p11dkimd
#    -n and p11dkim-keys preflight say so and why; --owner fixes it, and
#    the daemon then starts as root with signer-user and signs;
#  - every step refuses, with nothing changed on the token or in the
#    state, when its log or state directory cannot be written;
#  - faults midway (a test build of p11dkim-keys takes the token away or
#    makes the log or state unwritable between the checks and the
#    action, P11DKIM_TEST_FAULT): the key just made is destroyed again,
#    the state is put back, or the next run resumes;
#  - preflight's pass and fail cases, as text and as JSON.
#
# Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
set -u
BUILD=${BUILD:-build}
KEYS="$PWD/$BUILD/p11dkim-keys"
FAULTS="$PWD/$BUILD/tests/p11dkim-keys-faults"
DAEMON="$PWD/$BUILD/p11dkimd"
SIGN="$PWD/$BUILD/p11dkim-sign"
MOD=${P11DKIM_TEST_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
T=${P11DKIM_TEST_DIR:?run through tests/integration/run.sh}
PY=/usr/bin/python3
SIGNER=nobody
. "$(dirname "$0")/check.sh"
daemon_pid=

# stop_daemon - stop the daemon this script started, if it runs
stop_daemon() {
	[ -n "$daemon_pid" ] || return 0
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}
trap stop_daemon EXIT
trap 'exit 1' INT TERM

chmod 755 "$T"			# nobody must reach the store and the logs
mkdir -m 755 "$T/log" "$T/state"
LOG=$T/log/ceremony.log
STATE=$T/state
umask 077
printf 'so-pin-12345678\n' >"$T/so.pin"
printf 'hall-pin-12345678\n' >"$T/hall.pin"
chown "$SIGNER" "$T/hall.pin"	# the signer reads it
cat >"$T/p11dkim.conf" <<CONF
pkcs11-module = "$MOD"
provider-zone = "dkim.example.net"
record-name = "sel%n-%c"
dual-record-name = "ed%n-%c"
selectors = { "stxsel1", "stxsel2" }
dual-selectors = { "stxed1", "stxed2" }
state-dir = "$STATE"
ceremony-log = "$LOG"
signer-user = "$SIGNER"
require-separate-users = false
strict-start = true
log = "stderr"
listen "$T/d.sock" { mode = "0666" }
institution hall {
	domains = { "hall.example" }
	pin = "file:$T/hall.pin"
	active-selector = "stxsel1"
	dual-sign = true
	allow-uids = { "root" }
}
institution ward {
	domains = { "ward.example" }
	pin = "file:$T/hall.pin"
	active-selector = "stxsel1"
	allow-uids = { "root" }
	optional = true
}
CONF
chmod 644 "$T/p11dkim.conf"
umask 022			# zone files: nobody reads them
K() { "$KEYS" -c "$T/p11dkim.conf" --operator tester "$@"; }
KO() { K --owner "$SIGNER" "$@"; }
KN() { runuser -u "$SIGNER" -- "$KEYS" -c "$T/p11dkim.conf" --operator signer "$@"; }
# fault SPEC ARGS - the test build, with a fault at a point of the ceremony
fault() {
	spec=$1
	shift
	env P11DKIM_TEST_FAULT="$spec" "$FAULTS" -c "$T/p11dkim.conf" \
	    --operator tester --owner "$SIGNER" "$@"
}
# keys_of INST - the selectors with keys on the token, one line
keys_of() { K list "$1" 2>/dev/null | awk 'NR > 1 { print $2 }' | sort | tr '\n' ' '; }
# has_keys DESC INST WANT - exactly these selectors have keys
has_keys() {
	got=$(keys_of "$2")
	if [ "$got" = "$3" ]; then pass; else fail "$1: keys '$got', wanted '$3'"; fi
}
# json DESC FILE PYEXPR - PYEXPR is true of the JSON in FILE (as j)
json() {
	if $PY -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$2" "$3"; then
		pass
	else
		fail "$1: not ($3)"
		head -c 1500 "$2" | sed 's/^/  | /'
	fi
}
# start_daemon - p11dkimd -f in the background, until its socket answers
start_daemon() {
	rm -f "$T/d.sock"	# left by the start that failed
	"$DAEMON" -f -c "$T/p11dkim.conf" 2>"$T/daemon.log" &
	daemon_pid=$!
	i=0
	while [ $i -lt 150 ] && [ ! -S "$T/d.sock" ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# --- a store made by root is the signer's trouble -------------------------
check "init-token as root" 0 K init-token hall --so-pin "file:$T/so.pin" --pin "file:$T/hall.pin"
expect "root is warned the signer cannot use the token" "$T/err" "nobody (signer-user) cannot read and write"
expect "and told how to fix it" "$T/err" "run again with --owner nobody"
check "generate as root" 0 K generate hall
expect "warned again" "$T/err" "cannot read and write"
TOKDIR=$(ls -d "$T"/tokens/*-*)
check "p11dkimd -n fails as the signer would" 69 "$DAEMON" -n -c "$T/p11dkim.conf"
expect "-n names the token" "$T/out" "hall: token fail: no token labelled 'hall'"
expect "-n names the real cause" "$T/out" "token folder $TOKDIR itself is one that uid 65534 (nobody) cannot read and write"
check "preflight fails" 1 K preflight hall
expect "preflight runs as the signer user" "$T/out" "loaded as uid 65534 (nobody)"
expect "preflight names the cause" "$T/out" "token *fail .*cannot read and write"
check "preflight --json" 1 K --json preflight hall
json "JSON: the token check failed, with the cause" "$T/out" '[c for c in j["checks"] if c["check"] == "token" and c["status"] == "fail" and "owner uid 0, mode 0700" in c["detail"]] and j["failed"] >= 1'
check "the daemon does not start" 69 timeout 60 "$DAEMON" -f -c "$T/p11dkim.conf"
expect "the signer could not see the token" "$T/err" "no token labelled 'hall'"

# --- --owner gives the store to the signer; the daemon then signs --------------
check "--owner by a non-root user for someone else is refused" 77 KN --owner root list hall
expect "says why" "$T/err" "only root may give files to another user"
check "--owner nobody" 0 KO list hall
expect "says what it did" "$T/err" "now belong to nobody"
refute "no warning left" "$T/err" "warning"
check "the token folder is the signer's" 0 test "$(stat -c %U "$TOKDIR")" = "$SIGNER"
check "p11dkimd -n passes" 0 "$DAEMON" -n -c "$T/p11dkim.conf"
expect "-n made a test signature with each key" "$T/out" "hall: sign ok: 'hall-stxed1'"
K dns hall >"$T/hall.zone"
check "init-token and generate left hall pending" 0 grep -qx "onboarding=pending" "$STATE/hall.state"
check "check-dns --promote makes it live" 0 K check-dns hall --promote --zone "$T/hall.zone"
check "preflight passes" 0 K preflight hall --zone "$T/hall.zone"
expect "a token signature verifies with the published key" "$T/out" "verify *ok .*'hall-stxsel1' verifies with the published key"
expect "as the signer user" "$T/out" "user *ok *checking as signer-user nobody"
check "preflight by another user" 1 runuser -u daemon -- "$KEYS" -c "$T/p11dkim.conf" preflight hall --zone "$T/hall.zone"
expect "warns it does not see what the signer sees" "$T/out" "user *warn *checking as daemon, not as signer-user nobody"
check "preflight --json passes" 0 K --json preflight hall --zone "$T/hall.zone"
json "JSON: every check ok" "$T/out" 'j["failed"] == 0 and j["unreachable"] == 0 and all(c["status"] == "ok" for c in j["checks"]) and {c["check"] for c in j["checks"]} >= {"module", "pin", "token", "store", "key", "sign", "dns", "verify", "cname"}'
start_daemon
check "the daemon, root with signer-user, signs" 0 "$SIGN" -s "$T/d.sock" -d hall.example "$PWD/examples/message.eml"
expect "with the hall key" "$T/out" "d=hall.example;"
expect "of the active selector" "$T/out" "s=stxsel1;"
stop_daemon

# --- preflight fails where DNS is wrong --------------------------------------
sed 's/^\(stxsel1\._domainkey\.hall\.example\. IN CNAME\) .*/\1 elsewhere.example./' "$T/hall.zone" >"$T/badcname.zone"
check "preflight: a wrong CNAME" 1 K --json preflight hall --zone "$T/badcname.zone"
json "JSON: that CNAME fails, the records pass" "$T/out" '[c for c in j["checks"] if c["check"] == "cname" and c["status"] == "fail" and "wrong target" in c["detail"]] and all(c["status"] == "ok" for c in j["checks"] if c["check"] == "dns")'
check "init ward" 0 KO init-token ward --so-pin "file:$T/so.pin" --pin "file:$T/hall.pin"
check "generate ward" 0 KO generate ward
K dns ward | sed 's/-ward\._domainkey/-hall._domainkey/; s/\.ward\.example/.hall.example/' >"$T/wrong.zone"
check "preflight: the published key is another" 1 K --json preflight hall --zone "$T/wrong.zone"
json "JSON: dns mismatch, and the token's signature does not verify with it" "$T/out" '[c for c in j["checks"] if c["check"] == "dns" and c["status"] == "fail" and "mismatch" in c["detail"]] and [c for c in j["checks"] if c["check"] == "verify" and c["status"] == "fail" and "NOT verify" in c["detail"]]'
if unshare -n true 2>/dev/null; then
	check "preflight without a reachable resolver: 75" 75 unshare -n "$KEYS" -c "$T/p11dkim.conf" --json preflight hall
	json "JSON: only DNS was unreachable" "$T/out" 'j["failed"] == 0 and j["unreachable"] > 0'
else
	echo "note: unshare -n is not permitted here: the unreachable-DNS case did not run"
fi

# --- every step, as the signer user, refuses what it cannot finish --------------
cp "$STATE/hall.state" "$T/state.pre"
check "rotate start, the log root's: refused" 74 KN rotate hall start
expect "before anything is done" "$T/err" "ceremony log '$LOG': open to append: Permission denied: nothing was done"
has_keys "no key was made" hall "stxed1 stxsel1 "
check "no state was written" 0 cmp -s "$STATE/hall.state" "$T/state.pre"
chown "$SIGNER" "$LOG"
check "rotate start, the state directory root's: refused" 74 KN rotate hall start
expect "says so" "$T/err" "rotation state of hall cannot be written"
has_keys "no key was made" hall "stxed1 stxsel1 "
chown "$SIGNER" "$STATE"
chown root "$LOG"
check "generate, the log root's: refused" 74 KN generate hall stxsel2
has_keys "no key was made" hall "stxed1 stxsel1 "
chown "$SIGNER" "$LOG"
check "rotate start as the signer user" 0 KN rotate hall start
has_keys "both keys made" hall "stxed1 stxed2 stxsel1 stxsel2 "
for r in stxsel2 stxed2; do
	check "the public key record hall.$r.spki is the signer user's, 0644" 0 \
	    test "$(stat -c '%U %a' "$STATE/hall.$r.spki")" = "$SIGNER 644"
done
K dns hall >"$T/hall.zone"
K dns hall --revoke stxsel1 >"$T/revoked.zone"
# step NAME ARGS - as the signer user, the step is refused with the log,
# then the state, unwritable, and nothing changes; then it is done
step() {
	name=$1
	shift
	cp "$STATE/hall.state" "$T/state.before"
	chown root "$LOG"
	check "$name, the log root's: refused" 74 KN --yes rotate hall "$name" "$@"
	same "$name: the state is as it was" "$T/state.before" "$STATE/hall.state"
	chown "$SIGNER" "$LOG"
	chmod 555 "$STATE"
	check "$name, the state directory read-only: refused" 74 KN --yes rotate hall "$name" "$@"
	same "$name: the state is as it was" "$T/state.before" "$STATE/hall.state"
	chmod 755 "$STATE"
	has_keys "$name: the keys are as they were" hall "stxed1 stxed2 stxsel1 stxsel2 "
	check "$name" 0 KN --yes rotate hall "$name" "$@"
}
step publish
step verify --zone "$T/hall.zone"
step activate
step revoke --grace 0
check "finish without --yes and no terminal: refused" 64 KN rotate hall finish --zone "$T/revoked.zone" </dev/null
step finish --zone "$T/revoked.zone"
has_keys "finish destroyed the retired keys" hall "stxed2 stxsel2 "
check "and their public key records" 0 test ! -e "$STATE/hall.stxsel1.spki" -a \
    ! -e "$STATE/hall.stxed1.spki" -a -e "$STATE/hall.stxsel2.spki"
check "p11dkimd -n: the new selector, as the signer" 0 "$DAEMON" -n -c "$T/p11dkim.conf"
expect "signs with stxsel2" "$T/out" "hall: sign ok: 'hall-stxsel2'"
check "generate stxsel1 again" 0 KN generate hall stxsel1
chown root "$LOG"
check "destroy, the log root's: refused" 74 KN --yes destroy hall stxsel1
has_keys "nothing destroyed" hall "stxed1 stxed2 stxsel1 stxsel2 "
chown "$SIGNER" "$LOG"
check "destroy without --yes and no terminal: refused" 64 KN destroy hall stxsel1 </dev/null
has_keys "nothing destroyed" hall "stxed1 stxed2 stxsel1 stxsel2 "
check "destroy" 0 KN --yes destroy hall stxsel1
has_keys "destroyed" hall "stxed2 stxsel2 "

# --- faults between the checks and the action (test build) ----------------------
check "generate: the log fails after the key is made" 74 fault "log:mv $LOG $LOG.keep && mkdir $LOG" generate hall stxsel1
expect "the key is destroyed again" "$T/err" "the new key 'hall-stxsel1' was destroyed again: nothing changed on the token"
rmdir "$LOG" && mv "$LOG.keep" "$LOG"
has_keys "nothing changed on the token" hall "stxed2 stxsel2 "
check "the log is intact" 0 K log verify
check "rotate start: the token goes away between the two keys" 75 fault "token@2:mv $TOKDIR $TOKDIR.away" rotate hall start
mv "$TOKDIR.away" "$TOKDIR"
has_keys "the first key stays" hall "stxed2 stxsel1 stxsel2 "
expect "the rest is left to the next run" "$T/err" "'rotate hall start' again makes the rest"
expect "the state is still idle" "$STATE/hall.state" "step=idle"
check "rotate start again resumes" 0 KO rotate hall start
expect "from the logged key" "$T/out" "resuming: key 'hall-stxsel1' of stxsel1 was made by an earlier run"
has_keys "and makes the missing one" hall "stxed1 stxed2 stxsel1 stxsel2 "
cp "$STATE/hall.state" "$T/state.before"
check "publish: the state cannot be saved" 74 fault "state:mv $STATE $STATE.keep && touch $STATE" rotate hall publish
rm "$STATE" && mv "$STATE.keep" "$STATE"
same "publish: the state is as it was" "$T/state.before" "$STATE/hall.state"
check "publish: the log fails after the state was saved" 74 fault "log:mv $LOG $LOG.keep && mkdir $LOG" rotate hall publish
rmdir "$LOG" && mv "$LOG.keep" "$LOG"
expect "the state is put back" "$T/err" "the rotation state was put back: step 'generated' as before"
same "publish: the state is as it was" "$T/state.before" "$STATE/hall.state"
K dns hall >"$T/hall.zone"
K dns hall --revoke stxsel2 >"$T/revoked.zone"
for s in publish "verify --zone $T/hall.zone" activate "revoke --grace 0"; do
	check "rotate $s" 0 KO rotate hall $s
done
check "finish: the token goes away between the two keys" 69 fault "token@2:mv $TOKDIR $TOKDIR.away" --yes rotate hall finish --zone "$T/revoked.zone"
mv "$TOKDIR.away" "$TOKDIR"
has_keys "the first key is destroyed" hall "stxed1 stxed2 stxsel1 "
check "finish again resumes" 0 KO --yes rotate hall finish --zone "$T/revoked.zone"
expect "passes over the key destroyed before" "$T/out" "key 'hall-stxsel2' is gone already"
has_keys "and destroys the other" hall "stxed1 stxsel1 "
expect "hall is idle" "$STATE/hall.state" "step=idle"
check "ward: rotate start, the state cannot be saved" 74 fault "state:mv $STATE $STATE.keep && touch $STATE" rotate ward start
rm "$STATE" && mv "$STATE.keep" "$STATE"
has_keys "the new key stays" ward "stxsel1 stxsel2 "
check "ward: rotate start again resumes" 0 KO rotate ward start
refute "without making another key" "$T/out" "generated"
expect "the state moves on" "$STATE/ward.state" "step=generated"
check "import a key for hall's standby outside any ceremony" 0 pkcs11-tool --module "$MOD" --token-label hall --login --pin hall-pin-12345678 --keypairgen --key-type rsa:2048 --label hall-stxsel2
check "rotate start refuses a key the log does not show" 64 KO rotate hall start
expect "says so" "$T/err" "the ceremony log does not show"
check "destroy that key" 0 KO --yes destroy hall stxsel2

# --- a rotation run as root, without --owner: caught before the reload -----------
check "rotate start as root" 0 K rotate hall start
expect "root is warned" "$T/err" "nobody (signer-user) cannot read and write"
K dns hall >"$T/hall.zone"
for s in publish "verify --zone $T/hall.zone" activate; do
	check "rotate $s as root" 0 K rotate hall $s
done
check "p11dkimd -n fails, as the reload would" 69 "$DAEMON" -n -c "$T/p11dkim.conf"
expect "the new key is missing for the signer" "$T/out" "hall: key fail: token 'hall': no private key labelled 'hall-stxsel2'"
expect "and -n says why" "$T/out" "holds files that uid 65534 (nobody) cannot read and write (e.g. $TOKDIR/[^ ]*\.object, owner uid 0, mode 0600)"
check "preflight says the same" 1 K --json preflight hall --zone "$T/hall.zone"
json "JSON: store warns, key fails" "$T/out" '[c for c in j["checks"] if c["check"] == "store" and c["status"] == "warn"] and [c for c in j["checks"] if c["check"] == "key" and c["status"] == "fail" and "hall-stxsel2" in c["detail"]]'
check "--owner puts it right" 0 KO list hall
check "p11dkimd -n passes again" 0 "$DAEMON" -n -c "$T/p11dkim.conf"
check "the log is intact at the end" 0 K log verify

echo "ceremony-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
