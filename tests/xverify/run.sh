#!/bin/sh
# run.sh - cross-verification of the signing core by independent verifiers.
#
# Signs the corpus (tests/corpus and large generated messages) with
# software keys through the core's callback interface, in every algorithm
# and canonicalization, and has dkimpy and Mail::DKIM verify every
# signature from a local key table (no network).  Debian 12's Mail::DKIM
# does not know ed25519-sha256, so dkimpy alone checks those.  Then tampered
# copies must fail with both, and tests/corpus-bad must be refused.
set -u
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
PY=/usr/bin/python3
X=tests/xverify

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/large" "$tmp/out" "$tmp/tamper"

passed=0
failed=0
# tally - run a command; add the "N passed, M failed" of its last line
tally() {
	"$@" >"$tmp/log" 2>&1
	rc=$?
	grep -v '^PASS' "$tmp/log"
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$tmp/log" | tail -1)
	p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		echo "run.sh: '$*' exited $rc"
		failed=$((failed + 1))
	fi
}

$PY $X/gen_large.py "$tmp/large" || { echo "xverify: 0 passed, 1 failed"; exit 1; }
tally "$BUILD/tests/xsign" -o "$tmp/out" tests/corpus/*.eml "$tmp"/large/*.eml
keys="$tmp/out/keys.txt"

# dkimpy cannot parse obsolete WSP before a colon: Mail::DKIM alone checks *-obs-*.
tally $PY $X/verify_dkimpy.py "$keys" $(ls "$tmp"/out/*.eml | grep -v -- '-obs-')
tally perl $X/verify_maildkim.pl "$keys" "$tmp"/out/*.rsa.*.eml
tally perl $X/verify_maildkim.pl --allow-skip "$keys" "$tmp"/out/*.dual.eml

# Tampered copies: one change each, on a few messages, all c= pairs.
for f in "$tmp"/out/02-*.eml "$tmp"/out/25-*.eml "$tmp"/out/11-*.eml; do
	b=$(basename "$f" .eml)
	for mode in body append-body header add-from add-subject; do
		$PY $X/tamper.py "$mode" "$f" "$tmp/tamper/$b.$mode.eml" || failed=$((failed + 1))
	done
done
tally $PY $X/verify_dkimpy.py --expect-fail "$keys" "$tmp"/tamper/*.eml
tally perl $X/verify_maildkim.pl --expect-fail "$keys" "$tmp"/tamper/*.rsa.*.eml

# Messages that must be refused, each with a reason.
tally "$BUILD/tests/xsign" -r tests/corpus-bad/*.eml

echo "xverify: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
