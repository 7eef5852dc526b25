#!/bin/bash
# selftest_verifiers.sh - proves verify_dkimpy.py and verify_maildkim.pl work,
# without the C signer: fresh RSA-2048 and Ed25519 keys, corpus messages
# signed by dkimpy itself (LF converted to CRLF first), both verifiers must
# pass them, must reject body/header tampering under --expect-fail, and must
# NOT pass tampered/unsigned files otherwise. Exits non-zero on any surprise.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS="$HERE/../corpus"
PY=/usr/bin/python3          # the Debian python that has dkimpy
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0 checks=0

# expect CODE DESCRIPTION CMD... : run CMD (output in $T/log), check its status.
expect() {
    local want=$1 what=$2; shift 2
    checks=$((checks + 1))
    "$@" >"$T/log" 2>&1
    local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "SURPRISE: $what: exit $got, wanted $want"; sed 's/^/    /' "$T/log"
        fails=$((fails + 1))
    else
        echo "ok: $what ($(tail -n 1 "$T/log"))"
    fi
}

# --- keys and key table -------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa8.pem" 2>/dev/null
openssl pkey -in "$T/rsa8.pem" -traditional -out "$T/rsa.pem"   # PKCS#1 for dkimpy
openssl genpkey -algorithm ed25519 -out "$T/ed.pem"
rsa_pub=$(openssl pkey -in "$T/rsa.pem" -pubout -outform DER | base64 -w0)
ed_pub=$(openssl pkey -in "$T/ed.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
openssl pkey -in "$T/ed.pem" -outform DER | tail -c 32 | base64 -w0 >"$T/ed.seed"
cat >"$T/keys.txt" <<EOF
rsa2048._domainkey.example.org v=DKIM1; k=rsa; p=$rsa_pub
ed._domainkey.example.org v=DKIM1; k=ed25519; p=$ed_pub
EOF

# --- sign with dkimpy: sign.py OUT IN ALG:CANON... (first spec ends on top).
# verify_dkimpy is imported for its parser patch, so 06 ("Subject\t:") signs.
cat >"$T/sign.py" <<'EOF'
import os, re, sys
sys.path.insert(0, os.environ["HERE"])
import verify_dkimpy, dkim
out, src, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
msg = re.sub(b"(?<!\r)\n", b"\r\n", open(src, "rb").read())   # LF -> CRLF
keydir = os.path.dirname(sys.argv[0])
rsa = open(os.path.join(keydir, "rsa.pem"), "rb").read()
ed = open(os.path.join(keydir, "ed.seed"), "rb").read()
for spec in reversed(specs):
    alg, canon = spec.split(":")
    sel, key, a = {"rsa": (b"rsa2048", rsa, b"rsa-sha256"),
                   "ed": (b"ed", ed, b"ed25519-sha256")}[alg]
    msg = dkim.sign(msg, sel, b"example.org", key, signature_algorithm=a,
                    canonicalize=tuple(canon.encode().split(b"/"))) + msg
open(out, "wb").write(msg)
EOF
mkdir "$T/ok" "$T/bad"
sign() {
    HERE="$HERE" "$PY" "$T/sign.py" "$T/ok/$1" "$CORPUS/$2" "${@:3}" ||
        { echo "SURPRISE: dkimpy could not sign $2"; fails=$((fails + 1)); }
}
sign a-plain.eml    01-plain-text-lf.eml             rsa:relaxed/relaxed rsa:simple/simple
sign b-folded.eml   03-folded-headers-tabs-crlf.eml  rsa:simple/simple ed:relaxed/relaxed
sign c-utf8.eml     08-utf8-raw-headers-body-lf.eml  rsa:relaxed/relaxed
sign d-empty.eml    12-empty-body-crlf.eml           rsa:simple/simple rsa:relaxed/relaxed
sign e-museum.eml   25-museum-ticket-confirmation-crlf.eml rsa:relaxed/relaxed ed:relaxed/relaxed
sign f-colon-ws.eml 06-header-colon-spacing-crlf.eml rsa:simple/simple rsa:relaxed/relaxed
sign g-ed-only.eml  34-single-line-body-crlf.eml     ed:relaxed/relaxed

# --- tampered copies: one body byte, one signed header; plus an unsigned file --
sed 's/opened last week/opened last weak/' "$T/ok/a-plain.eml" >"$T/bad/a-body.eml"
sed 's/^Subject: Your tickets/Subject: Your tickbts/' "$T/ok/e-museum.eml" >"$T/bad/e-subject.eml"
sed 's/^ok\r$/ko\r/' "$T/ok/g-ed-only.eml" >"$T/bad/g-ed-body.eml"
printf 'From: a@example.org\r\nSubject: x\r\n\r\nno signature\r\n' >"$T/unsigned.eml"

# --- run the verifiers -----------------------------------------------------------
VP="$HERE/verify_dkimpy.py" VM="$HERE/verify_maildkim.pl" K="$T/keys.txt"
with_rsa=$(ls "$T"/ok/*.eml | grep -v ed-only)
expect 0 "dkimpy passes dkimpy-signed mail"         "$PY" "$VP" "$K" "$T"/ok/*.eml
expect 0 "Mail::DKIM passes it (--allow-skip)"      perl "$VM" --allow-skip "$K" "$T"/ok/*.eml
expect 0 "Mail::DKIM, files with an RSA signature"  perl "$VM" "$K" $with_rsa
expect 2 "Mail::DKIM: ed25519-only file is SKIP"    perl "$VM" "$K" "$T/ok/g-ed-only.eml"
expect 0 "dkimpy rejects tampering"     "$PY" "$VP" --expect-fail "$K" "$T"/bad/*.eml
expect 0 "Mail::DKIM rejects tampering" perl "$VM" --expect-fail "$K" "$T/bad/a-body.eml" "$T/bad/e-subject.eml"
# negative controls: a verifier that always says PASS must be caught here
expect 1 "dkimpy: tampered, no --expect-fail"       "$PY" "$VP" "$K" "$T"/bad/*.eml
expect 1 "Mail::DKIM: tampered, no --expect-fail"   perl "$VM" "$K" "$T/bad/a-body.eml" "$T/bad/e-subject.eml"
expect 1 "dkimpy: untouched with --expect-fail"     "$PY" "$VP" --expect-fail "$K" "$T/ok/a-plain.eml"
expect 1 "Mail::DKIM: untouched with --expect-fail" perl "$VM" --expect-fail "$K" "$T/ok/a-plain.eml"
expect 1 "dkimpy: unsigned file never passes"       "$PY" "$VP" --expect-fail "$K" "$T/unsigned.eml"
expect 1 "Mail::DKIM: unsigned file never passes"   perl "$VM" --expect-fail "$K" "$T/unsigned.eml"
: >"$T/nokeys.txt"
expect 1 "dkimpy: key missing from keytable"        "$PY" "$VP" "$T/nokeys.txt" "$T/ok/a-plain.eml"
expect 1 "Mail::DKIM: key missing from keytable"    perl "$VM" "$T/nokeys.txt" "$T/ok/a-plain.eml"

echo "selftest_verifiers: $((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
