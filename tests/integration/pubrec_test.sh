#!/bin/sh
# pubrec_test.sh - public key records: generate writes one per key into
# the state folder (0644, its SHA-256 the log's fingerprint), destroy
# removes it; dns, check-dns and rotate publish read them without loading
# the PKCS#11 module (a bogus module path, a missing SoftHSM2
# configuration); --from-token reads the token and prints the same; a
# record the ceremony log does not vouch for (swapped, left after a
# destroy, or a log whose chain is broken) is refused; a missing record
# falls back to the token with a note; audit (and preflight) catch a
# swapped record and audit --write-records writes the records again.
#
# Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
set -u
BUILD=${BUILD:-build}
KEYS="$PWD/$BUILD/p11dkim-keys"
MOD=${P11DKIM_TEST_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
T=${P11DKIM_TEST_DIR:?run through tests/integration/run.sh}
. "$(dirname "$0")/check.sh"

umask 077
printf 'so-pin-12345678\n' >"$T/so.pin"
printf 'mosa-pin-12345678\n' >"$T/mosa.pin"
printf 'venue-pin-1234567\n' >"$T/venue.pin"
mkdir -p "$T/state"
S=$T/state
umask 022			# the records are public: 0644 like the state
# conf MODULE - the configuration, with that module
conf() {
	cat <<CONF
pkcs11-module = "$1"
provider-zone = "dkim.example.net"
record-name = "sel%n-%c"
dual-record-name = "ed%n-%c"
selectors = { "stxsel1", "stxsel2" }
dual-selectors = { "stxed1", "stxed2" }
state-dir = "$S"
ceremony-log = "$S/ceremony.log"
institution mosa {
	domains = { "mosamuseum.com" }
	pin = "file:$T/mosa.pin"
	active-selector = "stxsel1"
	dual-sign = true
}
institution venue {
	domains = { "venue.example.org" }
	pin = "file:$T/venue.pin"
	active-selector = "stxsel1"
	algorithm = "ed25519-sha256"
	key-type = "ed25519"
}
CONF
}
conf "$MOD" >"$T/p11dkim.conf"
conf "$T/no-such-module.so" >"$T/bogus.conf"
K() { "$KEYS" -c "$T/p11dkim.conf" --operator tester "$@"; }
# B - the same with a module that cannot be loaded: nothing may load it
B() { "$KEYS" -c "$T/bogus.conf" --operator tester "$@"; }
# logged_fpr SELECTOR - the fingerprint of mosa's last generate of it
logged_fpr() {
	grep " action=generate inst=mosa selector=$1 " "$S/ceremony.log" |
	    tail -n 1 | sed 's/.* fpr=\([0-9a-f]*\) .*/\1/'
}

# --- generate writes the records -----------------------------------------
for i in mosa venue; do
	check "init $i" 0 K init-token $i --so-pin "file:$T/so.pin" --pin "file:$T/$i.pin"
	check "generate $i" 0 K generate $i
done
for r in mosa.stxsel1 mosa.stxed1 venue.stxsel1; do
	check "record $r written" 0 test -f "$S/$r.spki"
	check "record $r is 0644, the ceremony user's" 0 test \
	    "$(stat -c '%a %u' "$S/$r.spki")" = "644 $(id -u)"
done
check "no record for a selector without a key" 1 test -e "$S/mosa.stxsel2.spki"
check "the record's SHA-256 is the log's fingerprint" 0 test \
    "$(sha256sum <"$S/mosa.stxsel1.spki" | cut -c1-64)" = "$(logged_fpr stxsel1)"
check "openssl reads the record as a public key" 0 \
    openssl pkey -pubin -inform DER -in "$S/mosa.stxed1.spki" -noout

# --- dns without the module ------------------------------------------------
check "dns --from-token" 0 K dns mosa --from-token
cp "$T/out" "$T/token.zone"
check "the module really is unusable: --from-token fails" 69 B dns mosa --from-token
check "dns with an unusable module" 0 B dns mosa
same "dns from the records is what the token gives" "$T/out" "$T/token.zone"
refute "and without a note" "$T/err" "note"
check "dns without a SoftHSM2 configuration" 0 env SOFTHSM2_CONF="$T/missing.conf" "$KEYS" \
    -c "$T/p11dkim.conf" dns mosa
same "the same records" "$T/out" "$T/token.zone"
check "dns --revoke with an unusable module" 0 B dns mosa --revoke stxsel2
expect "the revoked selector is p= empty" "$T/out" 'stxsel2 of mosa: revoked'
check "dns of an Ed25519 institution" 0 B dns venue
expect "its key" "$T/out" '"p=[A-Za-z0-9+/]'
check "check-dns against the zone, unusable module" 0 B check-dns mosa --zone "$T/token.zone"
expect "the key matches" "$T/out" 'stxsel1.*match'
check "check-dns --from-token: the same" 0 K check-dns mosa --zone "$T/token.zone" --from-token

# --- a record the log does not vouch for -----------------------------------
cp "$S/mosa.stxsel1.spki" "$T/mosa.saved"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null
openssl pkey -in "$T/other.pem" -pubout -outform DER -out "$S/mosa.stxsel1.spki"
check "a swapped record is refused" 65 B dns mosa
expect "saying it does not match the log" "$T/err" "does not match the ceremony log"
expect "and what to do" "$T/err" "--from-token"
check "--from-token still works" 0 K dns mosa --from-token
same "with the token's key" "$T/out" "$T/token.zone"
check "audit catches the swapped record" 1 K audit mosa
expect "naming it" "$T/out" "FAIL mosa public key record .*mosa.stxsel1.spki holds another key"
expect "in the summary" "$T/out" "1 public key record(s) wrong"
check "preflight catches it too" 1 K preflight mosa --zone "$T/token.zone"
expect "on its record line" "$T/out" "^mosa  *record fail .*mosa.stxsel1.spki holds another key"
check "audit --write-records puts the token's key back" 0 K audit mosa --write-records
expect "saying so" "$T/out" "wrote mosa public key record"
same "the record is the token's again" "$S/mosa.stxsel1.spki" "$T/mosa.saved"
check "audit passes" 0 K audit mosa
check "preflight passes" 0 K preflight mosa --zone "$T/token.zone"
expect "with the record's line" "$T/out" "^mosa  *record ok .*mosa.stxsel1.spki: the token's key"
check "dns reads the records again" 0 B dns mosa
same "the same" "$T/out" "$T/token.zone"

# --- a missing record: the token, with a note ------------------------------
rm "$S/mosa.stxed1.spki"
check "a missing record: dns reads the token" 0 K dns mosa
same "the same records" "$T/out" "$T/token.zone"
expect "with a note" "$T/err" "note: no public key record for selector stxed1 of mosa"
expect "that says how to write it" "$T/err" "audit mosa --write-records"
check "so the module is needed then" 69 B dns mosa
check "audit notes the missing record, and passes" 0 K audit mosa
expect "noted" "$T/out" "note mosa: no public key record"
check "audit --write-records writes it" 0 K audit mosa --write-records
check "dns needs no module again" 0 B dns mosa
same "the same" "$T/out" "$T/token.zone"

# --- a record without a key --------------------------------------------------
check "generate stxsel2" 0 K generate mosa stxsel2
check "its record" 0 test -f "$S/mosa.stxsel2.spki"
cp "$S/mosa.stxsel2.spki" "$T/sel2.saved"
check "destroy stxsel2" 0 K --yes destroy mosa stxsel2
check "destroy removes its records" 1 test -e "$S/mosa.stxsel2.spki"
check "and the dual one" 1 test -e "$S/mosa.stxed2.spki"
cp "$T/sel2.saved" "$S/mosa.stxsel2.spki"
check "a record of a destroyed key is refused" 65 B dns mosa
expect "saying the log shows no key" "$T/err" "the ceremony log shows no key of this selector"
check "audit catches a record without a key" 1 K audit mosa
expect "naming it" "$T/out" "the token has no key for selector stxsel2"
rm "$S/mosa.stxsel2.spki"

# --- a broken log vouches for nothing ----------------------------------------
cp "$S/ceremony.log" "$T/log.saved"
sed -i '1s/operator=tester/operator=mallory/' "$S/ceremony.log"
check "a log whose chain is broken: records refused" 65 B dns mosa
expect "saying so and what to do" "$T/err" "not trusted while the ceremony log does not verify.*--from-token"
check "--from-token does without the log" 0 K dns mosa --from-token
cp "$T/log.saved" "$S/ceremony.log"
mv "$S/ceremony.log" "$T/log.away"
check "no ceremony log at all: the token" 0 K dns mosa
same "the same records" "$T/out" "$T/token.zone"
expect "with a note" "$T/err" "note: there is no ceremony log"
mv "$T/log.away" "$S/ceremony.log"

# --- rotate: start writes the records, publish needs no module ---------------
check "rotate start" 0 K rotate mosa start
check "start wrote the new records" 0 test -f "$S/mosa.stxsel2.spki" -a -f "$S/mosa.stxed2.spki"
check "rotate publish with an unusable module" 0 B rotate mosa publish
expect "the new record" "$T/out" 'sel2-mosa._domainkey.dkim.example.net'
check "rotate status with an unusable module" 0 B rotate mosa status
check "dns --from-token after the rotation start" 0 K dns mosa --from-token
cp "$T/out" "$T/token2.zone"
check "dns from the records" 0 B dns mosa
same "the same" "$T/out" "$T/token2.zone"
check "rotate verify with an unusable module" 0 B rotate mosa verify --zone "$T/token2.zone"
check "audit at the end" 0 K audit

echo "pubrec-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
