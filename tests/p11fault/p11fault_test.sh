#!/bin/sh
# p11fault_test.sh - the fault-injection module (libp11fault.so) around
# SoftHSM2, on two tokens (mosa, venue): pass-through for pkcs11-tool and
# for our driver (signatures verified with OpenSSL), C_Initialize's
# arguments unchanged, error rates within statistical bounds, every=N
# exactly, slot= and label= filters, corrupted signatures caught by
# OpenSSL, added latency and jitter measured, a hang that blocks until the
# control file changes, a running process's rules changed and a bad
# control file refused, session limits, and every refusal of a bad rule.
#
# Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
# The last line is the summary: p11fault-test: N passed, M failed
set -u
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
FAULT=$top/$BUILD/tests/libp11fault.so
DRV=$top/$BUILD/tests/p11fault_drv
T=${P11DKIM_TEST_DIR:?run through tests/integration/run.sh}
P11FAULT_MODULE=${P11DKIM_TEST_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
export P11FAULT_MODULE
unset P11FAULT P11FAULT_CONTROL P11FAULT_STATS P11FAULT_CHECK_MS \
    P11FAULT_STATS_MS P11FAULT_SEED

passed=0
failed=0
bg_pid=

# cleanup - stop what we started in the background
cleanup() {
	[ -n "$bg_pid" ] && kill "$bg_pid" 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ok NAME / nok NAME WHY - count and show one result
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
nok() {
	failed=$((failed + 1))
	printf 'FAIL %s: %s\n' "$1" "$2"
	sed 's/^/     | /' "$T/out" "$T/err" 2>/dev/null | head -8
}

# is NAME COND... - ok when the test command COND succeeds
is() {
	name=$1
	shift
	if "$@"; then ok "$name"; else nok "$name" "not: $*"; fi
}

# run CMD... - run, output in $T/out and $T/err, status in $rc
run() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# drv ARGS... - our driver on the fault module; an exit other than 0 or 1
# (a crash, a sanitizer's report) is a failure of its own
drv() {
	run "$DRV" "$FAULT" "$@"
	[ "$rc" -le 1 ] || nok "p11fault_drv $1" "exit $rc"
}

# bg_wait - wait for the driver in the background, 60 s at most (a
# sanitized build on a loaded machine is slow); one that must be killed,
# or that exits other than 0, is a failure
bg_wait() {
	i=0
	while kill -0 "$bg_pid" 2>/dev/null && [ $i -lt 1200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ $i -lt 1200 ] || kill "$bg_pid"
	wait "$bg_pid"
	brc=$?
	bg_pid=
	[ "$brc" -eq 0 ] || nok "p11fault_drv in the background" "exit $brc"
}

# sign TOKEN COUNT [THREADS] - signatures with the token's key
sign() { drv sign "$1" "$T/$1.pin" "$1-key" "$T/$1.pem" "$2" "${3:-1}"; }

# field NAME - a value from the driver's summary line in $T/out
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p" "$T/out" | head -1; }

# counter FILE FUNCTION KEY - a counter from a stats file (0 when absent)
counter() {
	v=$(awk -v f="$2" -v k="$3=" '$1 == f { for (i = 2; i <= NF; i++)
	    if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$1" \
	    2>/dev/null | head -1)
	echo "${v:-0}"
}

# wait_stat FILE FUNCTION KEY MIN - until the counter reaches MIN (10 s)
wait_stat() {
	i=0
	while [ "$(counter "$1" "$2" "$3")" -lt "$4" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ "$(counter "$1" "$2" "$3")" -ge "$4" ]
}

# setctl TEXT - replace the control file at once (write, then rename)
setctl() { printf '%b\n' "$1" >"$T/ctl.new" && mv "$T/ctl.new" "$T/ctl"; }

# within N LO HI - LO <= N <= HI
within() { [ "${1:-x}" -ge "$2" ] 2>/dev/null && [ "$1" -le "$3" ]; }

# ms_below A B - A < B for decimal milliseconds
ms_below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

# Under make check SAN=1 the module and the driver are sanitized: a
# sanitizer's report exits 86, apart from the driver's own 1.  The
# unsanitized pkcs11-tool runs the module with the ASan runtime loaded
# first, and without leak checks (its leaks are not ours).
ASAN_OPTIONS=${ASAN_OPTIONS:-}:exitcode=86
UBSAN_OPTIONS=${UBSAN_OPTIONS:-}:exitcode=86
export ASAN_OPTIONS UBSAN_OPTIONS
P11TOOL_ENV=
asan=$(ldd "$FAULT" | awk '/libasan/ { print $3 }')
[ -n "$asan" ] && P11TOOL_ENV="LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0"
# p11tool ARGS... - pkcs11-tool on the fault module
p11tool() { run env $P11TOOL_ENV pkcs11-tool --module "$FAULT" "$@"; }

# --- set-up: two tokens, keys generated through the fault module ---------
for tok in mosa venue; do
	printf '%s-pin-1234\n' "$tok" >"$T/$tok.pin"
	softhsm2-util --init-token --free --label "$tok" --so-pin 12345678 \
	    --pin "$tok-pin-1234" >/dev/null || { echo "no token $tok"; exit 1; }
	p11tool --token-label "$tok" --login --pin "$tok-pin-1234" --keypairgen \
	    --key-type rsa:2048 --id 01 --label "$tok-key"
	is "C_GenerateKeyPair through the module ($tok)" [ "$rc" -eq 0 ]
	p11tool --token-label "$tok" --read-object --type pubkey --id 01 \
	    -o "$T/$tok.der"
	openssl pkey -pubin -inform DER -in "$T/$tok.der" -out "$T/$tok.pem" 2>"$T/err"
	is "public key of $tok read through the module" [ -s "$T/$tok.pem" ]
done
printf 'the data to sign\n' >"$T/data"

# --- pass-through --------------------------------------------------------
p11tool -L
is "pkcs11-tool -L lists both tokens" grep -q "token label *: venue" "$T/out"
p11tool --token-label mosa --login --pin mosa-pin-1234 --sign \
    --mechanism SHA256-RSA-PKCS --label mosa-key -i "$T/data" -o "$T/sig"
run openssl dgst -sha256 -verify "$T/mosa.pem" -signature "$T/sig" "$T/data"
is "pkcs11-tool signature verifies with OpenSSL" grep -q "Verified OK" "$T/out"
sign mosa 200 2
is "200 signatures on 2 threads, all verified" [ "$(field ok)" = 200 ]
P11FAULT='C_GetSessionInfo error=CKR_SESSION_CLOSED every=10' \
    P11FAULT_STATS=$T/stats drv calls venue 1000
is "1000 calls, every tenth failed" grep -q "^calls=1000 failed=100 " "$T/out"
is "1000 calls counted" [ "$(counter "$T/stats" C_GetSessionInfo calls)" = 1000 ]
drv slots
is "slots listed with their labels" grep -q "^0x[0-9a-f]* venue$" "$T/out"
mosa_slot=$(sed -n 's/^\(0x[0-9a-f]*\) mosa$/\1/p' "$T/out")
run "$DRV" "$P11FAULT_MODULE" init-args
cp "$T/out" "$T/direct"
drv init-args
is "pReserved reaches the module (SoftHSM2 refuses it)" \
    grep -q "^pReserved=set CKR_ARGUMENTS_BAD$" "$T/out"
is "C_Initialize answers as the module does directly" cmp -s "$T/out" "$T/direct"

# --- injected errors -----------------------------------------------------
# 1000 draws at p=0.1: mean 100, sd 9.5; the bounds are 5 sd.
P11FAULT='C_Sign error=CKR_DEVICE_ERROR p=0.1' P11FAULT_STATS=$T/stats \
    sign mosa 1000 2
n=$(field failed)
is "p=0.1: $n of 1000 failed, within 53..147" within "$n" 53 147
is "p=0.1: the rest verified" [ "$(field ok)" -eq $((1000 - n)) ]
is "p=0.1: failures are C_Sign's CKR_DEVICE_ERROR" [ "$(field C_Sign:CKR_DEVICE_ERROR)" = "$n" ]
is "p=0.1: the counters say the same" [ "$(counter "$T/stats" C_Sign errors)" = "$n" ]
is "p=0.1: 1000 C_Sign calls counted" [ "$(counter "$T/stats" C_Sign calls)" = 1000 ]

# An injected C_Sign error ends the operation, as on a token: the next
# C_SignInit works.
P11FAULT='C_Sign error=CKR_DEVICE_ERROR every=4' sign mosa 100
is "every=4: exactly 25 of 100 failed" [ "$(field failed)" = 25 ]
is "every=4: no C_SignInit failed after them" [ "$(field ok)" = 75 ]
P11FAULT='C_SignInit error=0x30 every=2' sign mosa 10
is "a number as the code: CKR_DEVICE_ERROR on C_SignInit" \
    [ "$(field C_SignInit:CKR_DEVICE_ERROR)" = 5 ]

P11FAULT='C_Sign error=CKR_DEVICE_ERROR label=mosa' sign mosa 20
is "label=mosa: mosa fails" [ "$(field failed)" = 20 ]
P11FAULT='C_Sign error=CKR_DEVICE_ERROR label=mosa' sign venue 20
is "label=mosa: venue works" [ "$(field ok)" = 20 ]
P11FAULT="C_Sign error=CKR_TOKEN_NOT_PRESENT slot=$mosa_slot" sign mosa 20
is "slot=$mosa_slot: mosa fails" [ "$(field C_Sign:CKR_TOKEN_NOT_PRESENT)" = 20 ]
P11FAULT="C_Sign error=CKR_TOKEN_NOT_PRESENT slot=$mosa_slot" sign venue 20
is "slot=$mosa_slot: venue works" [ "$(field ok)" = 20 ]

P11FAULT='C_Login error=CKR_PIN_LOCKED' p11tool --token-label mosa --login \
    --pin mosa-pin-1234 --sign --mechanism SHA256-RSA-PKCS --label mosa-key \
    -i "$T/data" -o "$T/sig2"
is "C_Login error reaches pkcs11-tool" grep -q CKR_PIN_LOCKED "$T/out" "$T/err"
P11FAULT='C_GenerateKeyPair error=CKR_DEVICE_MEMORY' p11tool --token-label mosa \
    --login --pin mosa-pin-1234 --keypairgen --key-type rsa:2048 --label x
is "C_GenerateKeyPair error reaches pkcs11-tool" grep -q CKR_DEVICE_MEMORY "$T/out" "$T/err"
P11FAULT='C_GetSlotList error=CKR_GENERAL_ERROR' p11tool -L
is "C_GetSlotList error reaches pkcs11-tool" [ "$rc" -ne 0 ]
for f in C_GetTokenInfo C_OpenSession C_FindObjectsInit; do
	P11FAULT="$f error=CKR_DEVICE_ERROR label=mosa" sign mosa 1
	is "$f error on mosa" grep -q "$f.*: CKR_DEVICE_ERROR" "$T/err"
done

# --- corrupted signatures ------------------------------------------------
P11FAULT='C_Sign corrupt p=0.1' P11FAULT_STATS=$T/stats sign mosa 1000 4
n=$(field badsig)
is "corrupt p=0.1: $n of 1000 fail OpenSSL, within 53..147" within "$n" 53 147
is "corrupt p=0.1: no call failed, the rest verified" \
    [ "$(field failed)/$(field ok)" = "0/$((1000 - n))" ]
is "corrupt p=0.1: the counters say the same" [ "$(counter "$T/stats" C_Sign corrupted)" = "$n" ]
P11FAULT='C_Sign corrupt every=5' sign venue 100
is "corrupt every=5: exactly 20 of 100" [ "$(field badsig)" = 20 ]
P11FAULT='C_Sign corrupt' p11tool --token-label mosa --login --pin mosa-pin-1234 \
    --sign --mechanism SHA256-RSA-PKCS --label mosa-key -i "$T/data" -o "$T/sig3"
run openssl dgst -sha256 -verify "$T/mosa.pem" -signature "$T/sig3" "$T/data"
is "pkcs11-tool's corrupted signature fails OpenSSL" grep -q "Verification failure" "$T/out"

# --- latency ---------------------------------------------------------------
sign mosa 40
base=$(field p50_ms)
P11FAULT='C_Sign delay=20' P11FAULT_STATS=$T/stats sign mosa 40
is "delay=20: no C_Sign under 20 ms ($(field min_ms))" ms_below 19.99 "$(field min_ms)"
is "delay=20: median $(field p50_ms) ms, about 20 + $base" \
    ms_below "$(field p50_ms)" "$(awk -v b="$base" 'BEGIN { print b + 50 }')"
is "delay=20: 40 delays, 800 ms counted" \
    [ "$(counter "$T/stats" C_Sign delayed)/$(counter "$T/stats" C_Sign delay_ms)" = 40/800 ]
# 40 draws in [10, 30]: all above 18, or all below 22, is < 1e-8 likely.
P11FAULT='C_Sign delay=20 jitter=10' sign mosa 40
is "jitter=10: at least 10 ms ($(field min_ms))" ms_below 9.99 "$(field min_ms)"
is "jitter=10: some under 18 ms" ms_below "$(field min_ms)" 18
is "jitter=10: some over 22 ms ($(field max_ms))" ms_below 22 "$(field max_ms)"
P11FAULT='* delay=1' P11FAULT_STATS=$T/stats sign mosa 5
is "'*' delays every function" [ "$(counter "$T/stats" C_SignInit delayed)/$(counter \
    "$T/stats" C_Login delayed)/$(counter "$T/stats" C_Initialize delayed)" = 5/1/1 ]

# --- a hang, released by a change of the control file ---------------------
setctl 'C_Sign hang label=mosa   # the mosa token stops answering'
P11FAULT_CONTROL=$T/ctl P11FAULT_STATS=$T/hang.stats \
    "$DRV" "$FAULT" sign mosa "$T/mosa.pin" mosa-key "$T/mosa.pem" 3 \
    >"$T/hang.out" 2>"$T/hang.err" &
bg_pid=$!
is "hang: C_Sign blocks" wait_stat "$T/hang.stats" C_Sign hanging 1
P11FAULT_CONTROL=$T/ctl sign venue 5
is "hang label=mosa: venue still signs" [ "$(field ok)" = 5 ]
sleep 0.3
is "hang: still blocked" kill -0 "$bg_pid"
setctl '# recovered'
i=0
while kill -0 "$bg_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
is "hang: resumes once the control file changes" [ $i -lt 100 ]
bg_wait
is "hang: all 3 signatures made after it" grep -q "ok=3 " "$T/hang.out"
is "hang: counted once, none hanging now" \
    [ "$(counter "$T/hang.stats" C_Sign hung)/$(counter "$T/hang.stats" C_Sign hanging)" = 1/0 ]

# A control file rewritten in place, at once, is seen too.
printf 'C_Login hang\n' >"$T/ctl"
P11FAULT_CONTROL=$T/ctl P11FAULT_STATS=$T/hang.stats \
    "$DRV" "$FAULT" sign venue "$T/venue.pin" venue-key "$T/venue.pem" 1 \
    >"$T/hang.out" 2>"$T/hang.err" &
bg_pid=$!
is "hang on C_Login" wait_stat "$T/hang.stats" C_Login hanging 1
printf '# hang ended\n' >"$T/ctl"	# as long as the rule
bg_wait
is "rewritten in place, same size: released" grep -q "ok=1 " "$T/hang.out"

# --- a running process: rules changed, a bad text refused -----------------
# 1000 signatures, slowed to 5 ms each (5 s at least) until the last step
# lifts it; the steps take well under a second.
setctl 'C_Sign delay=5'
P11FAULT_CONTROL=$T/ctl P11FAULT_STATS=$T/run.stats \
    "$DRV" "$FAULT" sign mosa "$T/mosa.pin" mosa-key "$T/mosa.pem" 1000 \
    >"$T/run.out" 2>"$T/run.err" &
bg_pid=$!
wait_stat "$T/run.stats" C_Sign calls 30
setctl 'C_Sign delay=5\nC_Sign error=CKR_DEVICE_ERROR'
is "running: errors start" wait_stat "$T/run.stats" C_Sign errors 20
setctl 'C_Sign delay=5\nC_Sign error=CKR_DEVICE_ERROR\nC_Sign explode'
wait_stat "$T/run.stats" control rejected 1
e=$(counter "$T/run.stats" C_Sign errors)
is "running: the bad text is refused, its rules stay" wait_stat "$T/run.stats" C_Sign errors $((e + 10))
is "running: the bad line is reported" grep -q "p11fault: $T/ctl:3: unknown word 'explode'" "$T/run.err"
setctl ''
bg_wait
cp "$T/run.out" "$T/out"
is "running: recovered, last signature ok" [ "$(field last)" = CKR_OK ]
is "running: the counters tell the refusal" grep -q "^rejected: $T/ctl:3: unknown word" "$T/run.stats"

# --- session limits --------------------------------------------------------
P11FAULT='sessions max=2 label=mosa' P11FAULT_STATS=$T/stats drv sessions mosa ooocoaooo
tr '\n' ' ' <"$T/out" >"$T/got"
is "sessions max=2: the third refused until one closes" grep -qx \
    "o CKR_OK o CKR_OK o CKR_SESSION_COUNT c CKR_OK o CKR_OK a CKR_OK o CKR_OK o CKR_OK o CKR_SESSION_COUNT " "$T/got"
is "sessions: two refusals counted" [ "$(counter "$T/stats" C_OpenSession refused)" = 2 ]
P11FAULT='sessions max=2 label=mosa' drv sessions venue oooo
is "sessions label=mosa: venue unlimited" [ "$(grep -c 'o CKR_OK' "$T/out")" = 4 ]
P11FAULT='sessions max=0' drv sessions venue o
is "sessions max=0: none" grep -q "o CKR_SESSION_COUNT" "$T/out"

# --- rules accepted and refused -------------------------------------------
P11FAULT='# a comment
C_Sign delay=0 jitter=0 ; C_Sign error=CKR_DEVICE_ERROR label="venue" every=1000' sign venue 3
is "comments, quotes and ';' accepted" [ "$(field ok)" = 3 ]
while IFS='|' read -r rule why; do
	P11FAULT=$(printf '%b' "$rule") drv slots
	if [ "$rc" -ne 0 ] && grep -qF "p11fault: P11FAULT:" "$T/err" &&
	    grep -qF -- "$why" "$T/err"; then
		ok "refused: $rule"
	else
		nok "refused: $rule" "exit $rc, wanted '$why'"
	fi
done <<'RULES'
C_Sgin delay=1|unknown function 'C_Sgin'
C_Sign explode|unknown word 'explode'
C_Sign delay=abc|delay=abc: a number
C_Sign delay=700000|delay=700000: a number
C_Sign delay=1 delay=2|'delay' given twice
C_Sign|no fault
C_Sign delay=1 error=CKR_DEVICE_ERROR|one fault a line
C_Sign error=CKR_NOPE|not a CKR_ name
C_Sign error=CKR_OK|CKR_OK is no fault
C_Sign error=CKR_DEVICE_ERROR p=1.5|a probability in (0, 1]
C_Sign error=CKR_DEVICE_ERROR p=0|a probability in (0, 1]
C_Sign error=CKR_DEVICE_ERROR p=0.1 every=3|p= and every= together
C_Sign corrupt every=0|every=0: a number
C_Login corrupt|corrupt is for C_Sign
C_Sign hang p=0.5|an option that this fault does not take
C_Sign delay=1 max=3|max= is for sessions
C_GetSlotList error=CKR_DEVICE_ERROR label=mosa|concerns no slot
C_GetFunctionList delay=1|cannot be faulted
C_Sign hang label="mosa|unterminated quote
C_Sign hang label=a-label-longer-than-thirty-two-bytes|1 to 32 bytes
C_Sign hang slot=mosa|slot=mosa: not a slot number
sessions|sessions takes max=N
sessions max=1 p=0.5|sessions takes max=N
C_Sign delay=1\nC_Sign bogus|P11FAULT:2: unknown word 'bogus'
RULES
printf 'C_Sign delay=1\n\nC_Sign hang slot=-1\n' >"$T/bad.ctl"
P11FAULT_CONTROL=$T/bad.ctl drv slots
is "a bad control file fails C_Initialize" \
    grep -q "p11fault: $T/bad.ctl:3: slot=-1" "$T/err"
is "... and the driver with it" [ "$rc" -eq 1 ]
P11FAULT_CHECK_MS=0 drv slots
is "P11FAULT_CHECK_MS=0 refused" grep -q "P11FAULT_CHECK_MS=0" "$T/err"
P11FAULT_SEED=x drv slots
is "P11FAULT_SEED=x refused" grep -q "P11FAULT_SEED=x: not a number" "$T/err"
P11FAULT_MODULE= drv slots
is "no P11FAULT_MODULE: said so" grep -q "P11FAULT_MODULE is not set" "$T/err"
P11FAULT_MODULE=$FAULT drv slots
is "P11FAULT_MODULE naming the module itself: refused" grep -q "this module itself" "$T/err"

echo "p11fault-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
