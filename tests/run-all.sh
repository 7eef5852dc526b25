#!/bin/sh
# run-all.sh - every test of p11dkim, with one summary at the end.
#
# Runs the cmocka unit tests, the integration tests on SoftHSM2 (the
# fault-injection module's among them), the daemon, milter and client
# tests, the token matrix (tests/tokens/: the ceremony and signing path on
# SoftHSM2, openCryptoki, a software TPM and NSS), the source layering
# check and the cross-verification against independent verifiers (dkimpy,
# Mail::DKIM); with a sanitizer build (make check SAN=1), also the
# allocation failure run (tests/alloc/run.sh).
# Each suite's counts are added up; the last line is the summary:
#   tests: N passed, M failed
# The exit status is non-zero when anything failed or did not run.
set -u

BUILD=${BUILD:-build}
export BUILD
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

# Sanitizer builds: full stacks, so that tests/lsan.supp can tell leaks
# inside the PKCS#11 module from ours.
ASAN_OPTIONS=fast_unwind_on_malloc=0:detect_leaks=1
LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0
export ASAN_OPTIONS LSAN_OPTIONS

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# count_cmocka - add a cmocka run's counts (a crash counts as a failure)
count_cmocka() {
	rc=$1
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
		failed=$((failed + 1))	# died before its summary
	fi
}

# count_plain - add the counts of a suite that ends "N passed, M failed"
count_plain() {
	rc=$1
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		failed=$((failed + 1))
	fi
}

# run_suite - run one suite, show its output, count its results
run_suite() {
	kind=$1
	shift
	echo "== $*"
	"$@" >"$log" 2>&1
	rc=$?
	cat "$log"
	"count_$kind" "$rc"
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_suite cmocka "$t"
done
for t in "$BUILD"/tests/itest_*; do
	[ -x "$t" ] || continue
	run_suite cmocka tests/integration/run.sh "$t"
done
run_suite plain tests/integration/run.sh tests/integration/keys_test.sh
run_suite plain tests/integration/run.sh tests/p11fault/p11fault_test.sh
run_suite plain tests/integration/run.sh tests/integration/ceremony_test.sh
run_suite plain tests/integration/run.sh tests/integration/pubrec_test.sh
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/integration/interrupt_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/daemon_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/children_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/tenants_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/faults_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/startup_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/security_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/quota_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/metrics_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/onboard_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/dnswatch_test.py
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/daemon/trail_test.py
P11DKIM_SIGN=$BUILD/p11dkim-sign
export P11DKIM_SIGN
run_suite plain tests/integration/run.sh /usr/bin/python3 tests/milter/milter_test.py
run_suite plain tests/integration/run.sh tests/milter/postfix_test.sh
run_suite plain tests/tokens/run.sh
run_suite plain tests/client/sign_test.sh
run_suite plain tests/install/install_test.sh
# Sanitizer builds: every allocation path of the dkim/ and pkcs11/ unit
# tests failing in turn (LeakSanitizer finds what an error path leaks).
case "$BUILD" in
*-san) run_suite plain tests/alloc/run.sh ;;
esac
run_suite plain tests/check-layers.sh
run_suite plain tests/xverify/selftest_verifiers.sh
run_suite plain tests/xverify/run.sh

echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
