# fixture.sh - what the token fixtures of tests/tokens/ share; sourced by
# softhsm.sh, opencryptoki.sh, tpm.sh and nss.sh, never run alone.
#
# A fixture runs a test program against a fresh instance of one PKCS#11
# implementation, in a throw-away directory, and stops everything it
# started when the program ends, fails or is interrupted:
#
#   tests/tokens/NAME.sh PROGRAM [ARGS]
#       PROGRAM runs with these variables set:
#         P11DKIM_TEST_DIR        a throw-away directory of its own
#         P11DKIM_TEST_MODULE     the implementation's PKCS#11 module
#         P11DKIM_TEST_INIT_ARGS  its C_Initialize string ("" if none)
#         P11DKIM_TOKEN_IMPL      softhsm, opencryptoki, tpm or nss
#         P11DKIM_TOKEN_FIXTURE   this script, for setup-token
#         P11DKIM_TOKEN_INIT      "p11dkim-keys" when `p11dkim-keys
#                                 init-token` sets a token up, "vendor"
#                                 when the vendor's tool must
#         P11DKIM_TOKEN_LABEL     the label a token set up for LABEL gets
#                                 ("%s": LABEL itself)
#         P11DKIM_TOKEN_PIN_MAX   the longest PIN the token takes
#         P11DKIM_TOKEN_EDDSA     1 when the token signs with Ed25519
#         P11DKIM_TOKEN_DROPS     the hardening attributes the token
#                                 refuses in an RSA key template, as
#                                 p11dkim-keys names them, comma-separated
#   tests/tokens/NAME.sh setup-token LABEL SO_PIN_FILE USER_PIN_FILE
#       (from inside PROGRAM) set a token up with the vendor's tool, as a
#       security officer would where `p11dkim-keys init-token` cannot.
#
# A fixture script defines fx_start (start the implementation, export the
# variables above; the directory is $FX_DIR), fx_stop (stop it; safe
# after a failed or partial start) and fx_setup_token, then calls
# fx_main "$@".  KEEP=1 keeps the directory for a look after the run.

# fx_log - a line on stderr, named after the fixture
fx_log() {
	echo "$FX_NAME: $*" >&2
}

# fx_wait_for DESC TRIES CMD... - poll CMD every 50 ms until it succeeds
fx_wait_for() {
	desc=$1 tries=$2
	shift 2
	while [ "$tries" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		tries=$((tries - 1))
		sleep 0.05
	done
	fx_log "$desc: not ready in time"
	return 1
}

# fx_kill PID... - stop processes we started, and reap them
fx_kill() {
	for pid in "$@"; do
		[ -n "$pid" ] || continue
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	return 0
}

# fx_cleanup - the EXIT trap: stop the implementation, drop the directory
fx_cleanup() {
	rc=$?
	trap - EXIT INT TERM HUP
	fx_stop
	if [ "${KEEP:-0}" = 1 ]; then
		fx_log "kept $FX_DIR"
	else
		rm -rf "$FX_DIR"
	fi
	exit "$rc"
}

# fx_main ARGS - setup-token, or run a program against a fresh instance
fx_main() {
	case "${1:-}" in
	setup-token)
		shift
		FX_DIR=${P11DKIM_FIXTURE_DIR:?setup-token runs inside a test}
		[ $# -eq 3 ] || { fx_log "usage: setup-token LABEL SO_PIN_FILE USER_PIN_FILE"; exit 64; }
		fx_setup_token "$@"
		exit $?
		;;
	""|-h|--help)
		echo "usage: $0 PROGRAM [ARGS] | setup-token LABEL SO_PIN_FILE USER_PIN_FILE" >&2
		exit 64
		;;
	esac
	FX_DIR=$(mktemp -d)
	trap fx_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	mkdir -p "$FX_DIR/test" "$FX_DIR/impl"
	P11DKIM_TEST_DIR=$FX_DIR/test
	P11DKIM_TOKEN_IMPL=$FX_NAME
	P11DKIM_TOKEN_FIXTURE=$FX_SCRIPT
	P11DKIM_TEST_INIT_ARGS=""
	P11DKIM_TOKEN_LABEL="%s"
	P11DKIM_FIXTURE_DIR=$FX_DIR
	export P11DKIM_TEST_DIR P11DKIM_TOKEN_IMPL P11DKIM_TOKEN_FIXTURE \
	    P11DKIM_TEST_INIT_ARGS P11DKIM_TOKEN_LABEL P11DKIM_FIXTURE_DIR
	fx_start || { fx_log "could not start"; exit 1; }
	"$@"
}
