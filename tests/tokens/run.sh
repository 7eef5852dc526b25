#!/bin/sh
# run.sh - the token matrix: the whole ceremony and signing path
# (ceremony_test.py) on each PKCS#11 implementation, each in its own
# fixture and throw-away directory.
#   tests/tokens/run.sh [softhsm|opencryptoki|tpm|nss ...]   (default: all)
# Prints each run and its time; the last line is
#   tokens: N passed, M failed
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1

# Sanitizer builds: leak checking stays on for SoftHSM2 alone (with
# tests/lsan.supp).  The other three modules leak inside C_Initialize,
# C_GenerateKeyPair and C_Sign, where their frames cannot be told from
# ours; memory errors are still caught there, and with leak checking off
# the fast unwinder will do (the slow one costs minutes with these
# modules).
san=0
case "${BUILD:-build}" in *-san) san=1 ;; esac
: "${ASAN_OPTIONS:=fast_unwind_on_malloc=0:detect_leaks=1}"
: "${LSAN_OPTIONS:=suppressions=$top/tests/lsan.supp:print_suppressions=0}"
export ASAN_OPTIONS LSAN_OPTIONS
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
[ $# -gt 0 ] || set -- softhsm opencryptoki tpm nss
for impl in "$@"; do
	echo "== tokens: $impl"
	start=$(date +%s.%N)
	asan=$ASAN_OPTIONS
	[ "$san" = 1 ] && [ "$impl" != softhsm ] &&
	    asan="$asan:detect_leaks=0:fast_unwind_on_malloc=1"
	ASAN_OPTIONS=$asan \
	    tests/tokens/"$impl".sh /usr/bin/python3 tests/tokens/ceremony_test.py \
	    >"$log" 2>&1
	rc=$?
	grep -v '^WARNING: Cannot prepare version query\|^$' "$log"
	line=$(grep -E "^tokens-$impl: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
	p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		failed=$((failed + 1))	# died before its summary
	fi
	awk -v a="$start" -v b="$(date +%s.%N)" -v i="$impl" \
	    'BEGIN { printf "   %s: %.1f s in all\n", i, b - a }'
done
echo "tokens: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
