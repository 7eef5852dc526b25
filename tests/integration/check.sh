# check.sh - sourced by the p11dkim-keys test scripts: count results.
#
#   check DESC STATUS CMD...   run CMD, expect exit STATUS; output in
#                              $T/out and $T/err
#   expect DESC FILE TEXT      FILE contains TEXT (a grep pattern)
#   refute DESC FILE TEXT      FILE does not contain TEXT
#   same DESC A B              files A and B are the same
#
# The caller sets T (a throw-away directory) and prints the summary from
# $passed and $failed.
passed=0
failed=0

# pass, fail DESC - count one result
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }

check() {
	desc=$1 want=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		pass
	else
		fail "$desc: exit $got, wanted $want"
		sed 's/^/  | /' "$T/out" "$T/err" | head -20
	fi
}

expect() {
	if grep -q -- "$3" "$2"; then
		pass
	else
		fail "$1: '$3' not in output"
		sed 's/^/  | /' "$2" | head -20
	fi
}

refute() {
	if grep -q -- "$3" "$2"; then
		fail "$1: '$3' in output"
		sed 's/^/  | /' "$2" | head -20
	else
		pass
	fi
}

same() {
	if cmp -s "$2" "$3"; then
		pass
	else
		fail "$1: $2 and $3 differ"
		diff "$2" "$3" | head -10 | sed 's/^/  | /'
	fi
}
