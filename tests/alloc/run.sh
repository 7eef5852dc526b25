#!/bin/sh
# run.sh - the unit tests of dkim/ and pkcs11/ with their allocations
# failing (tests/alloc/failalloc.c): run after run, the first allocation
# whose path (the chain of our functions that made it) has not failed yet
# fails, until a run has none left.  Each such run must end:
#   - without a crash or a sanitizer report (an error path that reads a
#     NULL, frees twice, ...);
#   - without a leak (LeakSanitizer, checked when the test that had the
#     failure ends, and at exit; mapped PIN pages counted too);
#   - when a test failed because of it, with the error message our code
#     recorded, if the function the test called has an error record
#     (struct dkim_err, struct p11_err), and that error says out of memory
#     (DKIM_ENOMEM, CKR_HOST_MEMORY: a temporary failure): "a clear error",
#     not a wrong one ("field too long" would make the daemon refuse the
#     message for good).
# The last run (nothing left to fail) must pass every test.
#
#   BUILD=build-san tests/alloc/run.sh [test_NAME...]   (make check SAN=1
#   runs it, for every test)
#
# One line per failure injected; the last line: "alloc-fail: N passed, M
# failed".  pkcs11/ has no unit test that runs without a token but
# tests/unit/test_pin.c (pin.c): that one is here; the token code is
# tested on SoftHSM2 (tests/integration).
set -u
BUILD=${BUILD:-build-san}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A crash must not be taken for a failed test: cmocka may not catch SEGV.
ASAN_OPTIONS=detect_leaks=1:allow_user_segv_handler=0:handle_abort=1
export ASAN_OPTIONS
unset LSAN_OPTIONS
passed=0
failed=0

# needs_error FUNCTION - its prototype takes a struct dkim_err or p11_err
needs_error() {
	sed -n "/[ *]$1(/,/;/p" include/p11dkim/*.h | grep -q '_err \*'
}

# judge TEST - the run just made, from its report and output
judge() {
	rep=$tmp/report
	inj=$(sed -n 's/^injected [0-9]* [0-9a-f]* //p' "$rep")
	outer=$(echo "$inj" | sed -n 's/.* | \([a-z_0-9]*\) .*/\1/p')
	why=""
	if grep -qE 'ERROR: AddressSanitizer|runtime error:|Test failed with exception' \
	    "$tmp/out" || [ "$rc" -ge 128 ]; then
		why="crash (exit $rc)"
	elif grep -q '^leaked' "$rep" || grep -q 'ERROR: LeakSanitizer' "$tmp/out"; then
		why="leak"
	elif grep -q '^failed' "$rep" && ! grep -q '^error' "$rep" &&
	    needs_error "$outer"; then
		why="a test failed, and $outer recorded no error"
	elif grep -q '^failed' "$rep" && grep -q '^error [0-9]* other:' "$rep"; then
		why="a wrong error: $(sed -n 's/^error [0-9]* other://p' "$rep")"
	fi
	if grep -q '^failed' "$rep"; then
		what="test failed: $(sed -n 's/^error [0-9]* memory //p' "$rep" |
		    head -1)"
	else
		what="absorbed, tests pass"
	fi
	if [ -z "$why" ]; then
		passed=$((passed + 1))
		echo "ok   $1: $inj: $what"
	else
		failed=$((failed + 1))
		echo "FAIL $1: $inj: $why"
		grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error|exception' \
		    "$tmp/out" | head -40
		grep -E '^\[  (ERROR|FAILED)|[.]c:[0-9]+: error' "$tmp/out" | head -4
	fi
}

# run_test TEST - every path of TEST failing once, then a clean run
run_test() {
	t=$BUILD/alloc/$1
	: >"$tmp/seen"
	while :; do
		FAILALLOC_SEEN=$tmp/seen FAILALLOC_REPORT=$tmp/report \
		    "$t" >"$tmp/out" 2>&1
		rc=$?
		if ! grep -q '^injected' "$tmp/report"; then
			break
		fi
		sed -n 's/^injected [0-9]* \([0-9a-f]*\) .*/\1/p' "$tmp/report" \
		    >>"$tmp/seen"
		judge "$1"
	done
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   $1: no failure left to inject ($(wc -l <"$tmp/seen") paths, $(sed -n 's/^count //p' "$tmp/report") allocations): all tests pass"
	else
		failed=$((failed + 1))
		echo "FAIL $1: the run without a failure exits $rc"
		tail -20 "$tmp/out"
	fi
}

start=$(date +%s)
[ $# -gt 0 ] || set -- $(cd "$BUILD/alloc" 2>/dev/null && ls test_*)
for t in "$@"; do
	[ -x "$BUILD/alloc/$t" ] || { echo "alloc-fail: no $BUILD/alloc/$t (make SAN=1 tests)"; exit 1; }
	run_test "$t"
done
echo "alloc-fail: $(($(date +%s) - start)) s"
echo "alloc-fail: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
