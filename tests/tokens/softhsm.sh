#!/bin/sh
# softhsm.sh - run a test against a fresh SoftHSM2 2.6 token store (see
# fixture.sh for the interface).  Nothing to start: the store is a
# directory, found through SOFTHSM2_CONF; /var/lib/softhsm and
# ~/.config/softhsm2 are never touched.
set -u
FX_NAME=softhsm
FX_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$(dirname "$FX_SCRIPT")/fixture.sh"

fx_start() {
	mkdir -p "$FX_DIR/impl/tokens"
	printf 'directories.tokendir = %s/impl/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$FX_DIR" >"$FX_DIR/impl/softhsm2.conf"
	SOFTHSM2_CONF=$FX_DIR/impl/softhsm2.conf
	P11DKIM_TEST_MODULE=/usr/lib/softhsm/libsofthsm2.so
	P11DKIM_TOKEN_INIT=p11dkim-keys
	P11DKIM_TOKEN_PIN_MAX=255
	P11DKIM_TOKEN_EDDSA=1
	P11DKIM_TOKEN_DROPS=""
	export SOFTHSM2_CONF P11DKIM_TEST_MODULE P11DKIM_TOKEN_INIT \
	    P11DKIM_TOKEN_PIN_MAX P11DKIM_TOKEN_EDDSA P11DKIM_TOKEN_DROPS
}

fx_stop() {
	:
}

fx_setup_token() {
	softhsm2-util --init-token --free --label "$1" --so-pin "$(cat "$2")" \
	    --pin "$(cat "$3")" >/dev/null
}

fx_main "$@"
