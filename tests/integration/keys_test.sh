#!/bin/sh
# keys_test.sh - p11dkim-keys end to end on SoftHSM2 tokens: token set-up,
# key generation, DNS records checked and used to verify token signatures
# with OpenSSL, audit (passing, and failing on an imported key), the
# rotation sequence with its refusals, destroy, the ceremony log and its
# tamper detection (a record altered; the last record cut off, caught by
# the anchor file and by --head), and bad input that must change nothing.
#
# Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
set -u
BUILD=${BUILD:-build}
KEYS="$PWD/$BUILD/p11dkim-keys"
TSIGN="$PWD/$BUILD/tests/tsign"
MOD=${P11DKIM_TEST_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
T=${P11DKIM_TEST_DIR:?run through tests/integration/run.sh}
PY=/usr/bin/python3
. "$(dirname "$0")/check.sh"

umask 077
printf 'so-pin-12345678\n' >"$T/so.pin"
printf 'mosa-pin-12345678\n' >"$T/mosa.pin"
printf 'venue-pin-1234567\n' >"$T/venue.pin"
printf 'wrong-pin-0000000\n' >"$T/wrong.pin"
mkdir -p "$T/state"
cat >"$T/p11dkim.conf" <<CONF
pkcs11-module = "$MOD"
provider-zone = "dkim.example.net"
record-name = "sel%n-%c"
selectors = { "stxsel1", "stxsel2" }
spf-include = "_spf.example.net"
state-dir = "$T/state"
ceremony-log = "$T/state/ceremony.log"
institution mosa {
	domains = { "mosamuseum.com" }
	pin = "file:$T/mosa.pin"
	active-selector = "stxsel1"
}
institution venue {
	domains = { "venue.example.org", "tickets.venue.example.org" }
	pin = "file:$T/venue.pin"
	active-selector = "stxsel2"
	algorithm = "ed25519-sha256"
	key-type = "ed25519"
}
institution ghost {
	domains = { "ghost.example" }
	pin = "file:$T/mosa.pin"
	active-selector = "stxsel1"
}
CONF
K() { "$KEYS" -c "$T/p11dkim.conf" --operator tester "$@"; }

# --- token set-up and keys ---------------------------------------------
check "init mosa" 0 K init-token mosa --so-pin "file:$T/so.pin" --pin "file:$T/mosa.pin"
expect "init mosa says next" "$T/out" "next: p11dkim-keys generate mosa"
check "init venue" 0 K init-token venue --so-pin "file:$T/so.pin" --pin "file:$T/venue.pin"
check "init mosa again is refused" 69 K init-token mosa --so-pin "file:$T/so.pin" --pin "file:$T/mosa.pin"
expect "refusal says why" "$T/err" "already exists"
check "audit of a token without keys fails" 1 K audit mosa
expect "and says there are none" "$T/err" "audit: no keys"
expect "naming the token" "$T/out" "token 'mosa' holds no keys"
check "generate mosa (active selector)" 0 K generate mosa
expect "generated for stxsel1" "$T/out" "for selector stxsel1"
expect "SoftHSM2 takes every hardening attribute" "$T/out" "the token took the full template"
check "generate mosa again is refused" 69 K generate mosa
expect "no overwrite" "$T/err" "refusing to overwrite"
check "generate venue ed25519" 0 K generate venue
check "rsa key for an ed25519 institution is refused" 78 K generate venue stxsel1 --type rsa2048

# --- DNS records ---------------------------------------------------------
check "dns mosa" 0 K dns mosa
cp "$T/out" "$T/mosa.zone"
expect "TXT in zone syntax" "$T/mosa.zone" 'sel1-mosa._domainkey.dkim.example.net. IN TXT ('
expect "CNAME for stxsel1" "$T/mosa.zone" 'stxsel1._domainkey.mosamuseum.com. IN CNAME sel1-mosa._domainkey.dkim.example.net.'
expect "CNAME for stxsel2" "$T/mosa.zone" 'stxsel2._domainkey.mosamuseum.com. IN CNAME sel2-mosa._domainkey.dkim.example.net.'
expect "SPF hint" "$T/mosa.zone" 'include:_spf.example.net'
check "no string over 255 bytes" 0 $PY -c '
import re, sys
t = open(sys.argv[1]).read()
s = re.findall(r"\"((?:[^\"\\\\]|\\\\.)*)\"", t)
sys.exit(0 if s and max(len(x) for x in s) <= 255 else 1)' "$T/mosa.zone"
check "check-dns mosa against its own records" 0 K check-dns mosa --zone "$T/mosa.zone"
expect "stxsel1 match" "$T/out" "stxsel1 .*match"
check "dns venue" 0 K dns venue
cp "$T/out" "$T/venue.zone"
expect "ed25519 record" "$T/venue.zone" 'k=ed25519; '
check "check-dns venue" 0 K check-dns venue --zone "$T/venue.zone"
printf 'sel1-mosa._domainkey.dkim.example.net. 300 IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"\n' >"$T/wrong.zone"
check "check-dns: a different key is a mismatch" 1 K check-dns mosa stxsel1 --zone "$T/wrong.zone"
expect "mismatch said" "$T/out" "mismatch"
: >"$T/empty.zone"
check "check-dns: nothing published is missing" 1 K check-dns mosa stxsel1 --zone "$T/empty.zone"
expect "missing said" "$T/out" "missing"
check "check-dns --json" 0 sh -c "\"$KEYS\" -c \"$T/p11dkim.conf\" --json check-dns mosa --zone \"$T/mosa.zone\" | $PY -m json.tool"

# The key in the DNS record verifies signatures the token makes.
for inst in mosa venue; do
	sel=stxsel1; [ $inst = venue ] && sel=stxsel2
	n=1; [ $inst = venue ] && n=2
	$PY - "$T/$inst.zone" "sel$n-$inst" "$T/$inst.pem" <<'PYEOF'
import base64, re, sys
text = open(sys.argv[1]).read()
block = re.search(re.escape(sys.argv[2]) + r"\._domainkey\S* IN TXT \((.*?)\)", text, re.S).group(1)
rec = "".join(re.findall(r'"([^"]*)"', block))
p = base64.b64decode(re.search(r"p=([A-Za-z0-9+/=]+)", rec).group(1))
if "k=ed25519" in rec:
    p = bytes.fromhex("302a300506032b6570032100") + p   # SPKI around the raw key
pem = "-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(p).decode() + "-----END PUBLIC KEY-----\n"
open(sys.argv[3], "w").write(pem)
PYEOF
	printf 'a message to sign' | openssl dgst -sha256 -binary >"$T/digest"
	check "$inst: token signs the digest" 0 "$TSIGN" "$MOD" "$inst" "$T/$inst.pin" "$inst-$sel" "$T/digest" "$T/$inst.sig"
	if [ $inst = mosa ]; then
		check "$inst: OpenSSL verifies with the DNS key" 0 openssl pkeyutl -verify -pubin -inkey "$T/$inst.pem" -pkeyopt digest:sha256 -in "$T/digest" -sigfile "$T/$inst.sig"
	else
		check "$inst: OpenSSL verifies with the DNS key" 0 openssl pkeyutl -verify -pubin -inkey "$T/$inst.pem" -rawin -in "$T/digest" -sigfile "$T/$inst.sig"
	fi
done

# --- audit -----------------------------------------------------------------
check "audit mosa passes" 0 K audit mosa
expect "audit says why it passes" "$T/out" "never left it"
expect "audit shows each attribute" "$T/out" "hardening  CKA_ALLOWED_MECHANISMS  {CKM_RSA_PKCS}"
expect "and the secret refused" "$T/out" "CKA_PRIVATE_EXPONENT    not revealed     CKR_ATTRIBUTE_SENSITIVE"
check "audit --strict passes on SoftHSM2" 0 K audit mosa --strict
check "audit --json" 0 sh -c "\"$KEYS\" -c \"$T/p11dkim.conf\" --json audit venue | $PY -m json.tool"
check "audit venue passes" 0 K audit venue
check "audit of all fails: ghost has no token" 69 K audit
expect "the missing token is named" "$T/err" "no token labelled 'ghost'"
expect "the others are still audited" "$T/out" "ok   venue key"
check "list --json" 0 sh -c "\"$KEYS\" -c \"$T/p11dkim.conf\" --json list mosa | $PY -m json.tool"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER -out "$T/imported.der" 2>/dev/null
check "import a key through the raw module" 0 pkcs11-tool --module "$MOD" --token-label mosa --login --pin mosa-pin-12345678 --write-object "$T/imported.der" --type privkey --label imported --id 99
check "audit fails on the imported key" 1 K audit mosa
expect "audit says it was imported" "$T/out" "imported, not generated on the token"
check "remove the imported key" 0 pkcs11-tool --module "$MOD" --token-label mosa --login --pin mosa-pin-12345678 --delete-object --type privkey --label imported
check "audit passes again" 0 K audit mosa

# --- rotation --------------------------------------------------------------
check "rotate verify before start is refused" 64 K rotate mosa verify --zone "$T/mosa.zone"
expect "says what comes first" "$T/err" "'rotate publish' first"
check "rotate activate before start is refused" 64 K rotate mosa activate
check "rotate status before a rotation" 0 K rotate mosa status
expect "status names the next command as it is typed" "$T/out" "next: *p11dkim-keys rotate mosa start$"
check "rotate start" 0 K rotate mosa start
check "rotate start twice is refused" 64 K rotate mosa start
check "rotate activate before verify is refused" 64 K rotate mosa activate
expect "DNS must show it" "$T/err" "DNS must show the new key"
check "rotate publish" 0 K rotate mosa publish
cp "$T/out" "$T/new.zone"
expect "publishes sel2" "$T/new.zone" "sel2-mosa._domainkey.dkim.example.net. IN TXT"
check "rotate verify: DNS without the new key fails" 1 K rotate mosa verify --zone "$T/mosa.zone"
check "rotate verify: the institution's CNAME missing fails" 1 K rotate mosa verify --zone "$T/new.zone"
expect "the missing CNAME is named" "$T/err" "CNAME stxsel2._domainkey.mosamuseum.com: missing"
cat "$T/mosa.zone" "$T/new.zone" >"$T/both.zone"
sed 's/^\(stxsel2\._domainkey\.mosamuseum\.com\. IN CNAME\) .*/\1 elsewhere.example./' "$T/both.zone" >"$T/wrongcname.zone"
check "rotate verify: a CNAME to elsewhere fails" 1 K rotate mosa verify --zone "$T/wrongcname.zone"
expect "the wrong CNAME is named" "$T/err" "stxsel2._domainkey.mosamuseum.com: wrong target"
expect "the state stays published" "$T/state/mosa.state" "step=published"
check "check-dns sees the wrong CNAME too" 1 K check-dns mosa stxsel2 --zone "$T/wrongcname.zone"
expect "check-dns names it" "$T/out" "stxsel2._domainkey.mosamuseum.com *CNAME wrong target"
check "rotate verify" 0 K rotate mosa verify --zone "$T/both.zone"
expect "verify shows the CNAME" "$T/out" "CNAME stxsel2._domainkey.mosamuseum.com -> sel2-mosa._domainkey.dkim.example.net: ok"
check "destroy during rotation is refused" 64 K --yes destroy mosa stxsel2
check "rotate activate" 0 K rotate mosa activate
expect "state: active stxsel2" "$T/state/mosa.state" "active=stxsel2"
check "destroy the active selector is refused" 64 K --yes destroy mosa stxsel2
check "rotate revoke inside the grace period is refused" 64 K rotate mosa revoke
expect "says how long to wait, in days, hours and minutes" "$T/err" "wait [67] days* [0-9]* h [0-9]* min more (grace period 7 days 0 h 0 min"
check "rotate status during the grace period" 0 K rotate mosa status
expect "status says when revoke may run" "$T/out" "next: *p11dkim-keys rotate mosa revoke"
expect "and in how long" "$T/out" "grace period is over: in [67] days* "
check "rotate revoke" 0 K rotate mosa revoke --grace 0
cp "$T/out" "$T/revoke.zone"
expect "revocation record" "$T/revoke.zone" 'p=" )'
check "rotate finish before DNS shows it is refused" 1 K rotate mosa finish --zone "$T/both.zone"
grep -v '^sel1-mosa\|^[[:space:]]*"' "$T/both.zone" >"$T/final.zone"
cat "$T/new.zone" "$T/revoke.zone" >"$T/final.zone"
check "check-dns shows sel1 revoked" 1 K check-dns mosa stxsel1 --zone "$T/final.zone"
check "rotate finish without --yes and no terminal is refused" 64 K rotate mosa finish --zone "$T/final.zone" </dev/null
expect "says to add --yes" "$T/err" "add --yes"
check "the retired key is still there" 0 K list mosa
expect "stxsel1 still listed" "$T/out" "mosa *stxsel1"
check "rotate finish" 0 K --yes rotate mosa finish --zone "$T/final.zone"
check "rotate status" 0 K rotate mosa status
expect "idle again" "$T/out" "rotation step:   idle"
check "list after rotation" 0 K list mosa
expect "new key active" "$T/out" "stxsel2 .*active"
refute "the retired key is gone from the token" "$T/out" "mosa *stxsel1"

# --- bad input changes nothing ----------------------------------------------
K list >"$T/before" 2>&1
sed "s|$T/venue.pin|$T/wrong.pin|" "$T/p11dkim.conf" >"$T/wrongpin.conf"
check "wrong PIN" 77 "$KEYS" -c "$T/wrongpin.conf" generate venue stxsel1
expect "wrong PIN named" "$T/err" "CKR_PIN_INCORRECT"
check "missing token" 69 K generate ghost
expect "missing token named" "$T/err" "no token labelled 'ghost'"
sed "s|pkcs11-module = .*|pkcs11-module = \"/nonexistent/module.so\"|" "$T/p11dkim.conf" >"$T/nomod.conf"
check "missing module" 69 "$KEYS" -c "$T/nomod.conf" list
expect "missing module named" "$T/err" "cannot load PKCS#11 module /nonexistent/module.so"
printf 'colour = "red"\n' >>"$T/wrongpin.conf"
check "config error" 78 "$KEYS" -c "$T/wrongpin.conf" list
expect "config error has file:line" "$T/err" "wrongpin.conf:[0-9]*: no such option 'colour'"
check "unknown command" 64 K frobnicate
version=$(awk 'NR == 1 { gsub(/[()]/, "", $2); print $2 }' debian/changelog)
check "--version" 0 "$KEYS" --version
expect "--version says the name and debian/changelog's version" "$T/out" "^p11dkim-keys $version\$"
check "--help of a command" 0 K rotate --help
K list >"$T/after" 2>&1
check "nothing on the tokens changed" 0 cmp "$T/before" "$T/after"

# --- ceremony log ------------------------------------------------------------
check "log verify" 0 K log verify
expect "chain intact" "$T/out" "chain intact"
expect "the anchor file matches" "$T/out" "ceremony.anchor: record [0-9]*, head [0-9a-f]*: matches"
head=$(sed -n 's/.* records, head \([0-9a-f]*\)$/\1/p' "$T/out")
expect "every append anchored the head in the state folder" "$T/state/ceremony.anchor" "^count=[0-9]* head=$head\$"
check "log verify --head the current head" 0 K log verify --head "$head"
expect "--head: which record it is" "$T/out" "head $head: record"
check "log verify --head in upper case" 0 K log verify --head "$(echo "$head" | tr a-f A-F)"
check "log verify --head that is not a hash" 64 K log verify --head "${head%?}"
check "log show" 0 K log show
expect "transcript has witness lines" "$T/out" "Witness"
expect "log names the operator" "$T/state/ceremony.log" "operator=tester"
cp "$T/state/ceremony.log" "$T/good.log"
sed -i '$d' "$T/state/ceremony.log"
check "the last record cut off: verify fails" 1 K log verify
expect "the cut is named" "$T/out" "records were cut off the end"
check "the last record cut off: --head with the old head fails" 1 K log verify --head "$head"
expect "the old head is not in the chain" "$T/out" "does not pass through head $head"
cp "$T/good.log" "$T/state/ceremony.log"
check "the whole log back: verify passes" 0 K log verify
sed -i '2s/result=ok/result=no/' "$T/state/ceremony.log"
check "a tampered log fails verify" 1 K log verify
expect "names the broken line" "$T/out" "BROKEN at line"

echo "keys-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
