#!/bin/sh
# nss.sh - run a test against a fresh NSS 3.87 softoken database (see
# fixture.sh for the interface).  Nothing to start: the module is
# libsoftokn3 and the database a directory.
#
# The module refuses C_Initialize without arguments: it wants its
# database in CK_C_INITIALIZE_ARGS.pReserved, which p11dkim passes from
# pkcs11-init-args (P11DKIM_TEST_INIT_ARGS here).  Keys live in slot 2,
# the token labelled "NSS Certificate DB"; its label cannot be chosen,
# and it has no security officer PIN: setup-token sets the user PIN with
# certutil, as an administrator would.  NSS_MAX_MP_PBE_ITERATION_COUNT=1
# keeps the PIN's key derivation cheap (otherwise every login, and every
# sign after it, is slowed to about 20 per second).
set -u
FX_NAME=nss
FX_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$(dirname "$FX_SCRIPT")/fixture.sh"

fx_start() {
	mkdir -p "$FX_DIR/impl/db" || return 1
	NSS_MAX_MP_PBE_ITERATION_COUNT=1
	P11DKIM_TEST_MODULE=/usr/lib/x86_64-linux-gnu/libsoftokn3.so
	P11DKIM_TEST_INIT_ARGS="configdir='sql:$FX_DIR/impl/db' certPrefix='' keyPrefix='' secmod='secmod.db' flags="
	P11DKIM_TOKEN_INIT=vendor
	P11DKIM_TOKEN_LABEL="NSS Certificate DB"
	P11DKIM_TOKEN_PIN_MAX=500
	P11DKIM_TOKEN_EDDSA=0
	P11DKIM_TOKEN_DROPS="CKA_COPYABLE,CKA_ALLOWED_MECHANISMS"
	export NSS_MAX_MP_PBE_ITERATION_COUNT P11DKIM_TEST_MODULE \
	    P11DKIM_TEST_INIT_ARGS P11DKIM_TOKEN_INIT P11DKIM_TOKEN_LABEL \
	    P11DKIM_TOKEN_PIN_MAX P11DKIM_TOKEN_EDDSA P11DKIM_TOKEN_DROPS
}

fx_stop() {
	:
}

# fx_setup_token LABEL SO_PIN_FILE USER_PIN_FILE - with certutil; NSS has
# one key token, whatever the label, and no SO PIN.
fx_setup_token() {
	certutil -N -d "sql:$FX_DIR/impl/db" -f "$3" >/dev/null
}

fx_main "$@"
