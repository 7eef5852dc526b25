#!/bin/sh
# tpm.sh - run a test against a fresh software TPM 2.0 through
# tpm2-pkcs11 1.9 (see fixture.sh for the interface).
#
# Three processes, all ours and all in the throw-away directory: swtpm
# (the TPM, on Unix sockets), a private D-Bus session bus, and
# tpm2-abrmd, the resource manager, registered on that bus.  Without
# abrmd the TPM's three transient object slots fill up and the second
# key generation fails; with abrmd's default of 27 transients the same
# happens after about 13 keys, hence --max-transients=100 (its maximum).
# The module finds abrmd through TPM2_PKCS11_TCTI and keeps its store
# (a SQLite file that belongs with the TPM state) in TPM2_PKCS11_STORE.
#
# `p11dkim-keys init-token` works (C_InitToken on the empty slot, which
# is always listed last).  RSA 1024 to 3072 bits; no EdDSA.
set -u
FX_NAME=tpm
FX_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$(dirname "$FX_SCRIPT")/fixture.sh"

TPM_SWTPM_PID="" TPM_BUS_PID="" TPM_ABRMD_PID=""

# tpm_abrmd_up - tpm2-abrmd owns its name on our bus
tpm_abrmd_up() {
	dbus-send --bus="$DBUS_SESSION_BUS_ADDRESS" --print-reply \
	    --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
	    string:com.intel.tss2.Tabrmd 2>/dev/null | grep -q 'boolean true'
}

fx_start() {
	d=$FX_DIR/impl
	mkdir -p "$d/state" "$d/store" || return 1
	swtpm socket --tpm2 --tpmstate dir="$d/state" \
	    --server type=unixio,path="$d/tpm.sock" \
	    --ctrl type=unixio,path="$d/tpm.sock.ctrl" \
	    --flags not-need-init,startup-clear >"$d/swtpm.log" 2>&1 &
	TPM_SWTPM_PID=$!
	dbus-daemon --session --nofork --address="unix:path=$d/bus" \
	    >"$d/dbus.log" 2>&1 &
	TPM_BUS_PID=$!
	DBUS_SESSION_BUS_ADDRESS=unix:path=$d/bus
	export DBUS_SESSION_BUS_ADDRESS
	fx_wait_for swtpm 100 test -S "$d/tpm.sock" || return 1
	fx_wait_for dbus-daemon 100 test -S "$d/bus" || return 1
	tpm2-abrmd --session --allow-root --flush-all --max-transients=100 \
	    --tcti="swtpm:path=$d/tpm.sock" >"$d/abrmd.log" 2>&1 &
	TPM_ABRMD_PID=$!
	fx_wait_for tpm2-abrmd 200 tpm_abrmd_up || return 1
	TPM2_PKCS11_TCTI=tabrmd:bus_type=session
	TPM2_PKCS11_STORE=$d/store
	P11DKIM_TEST_MODULE=/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1
	P11DKIM_TOKEN_INIT=p11dkim-keys
	P11DKIM_TOKEN_PIN_MAX=128
	P11DKIM_TOKEN_EDDSA=0
	P11DKIM_TOKEN_DROPS="public CKA_ENCRYPT,CKA_DECRYPT,CKA_ALLOWED_MECHANISMS (CKM_RSA_PKCS alone)"
	export TPM2_PKCS11_TCTI TPM2_PKCS11_STORE P11DKIM_TEST_MODULE \
	    P11DKIM_TOKEN_INIT P11DKIM_TOKEN_PIN_MAX P11DKIM_TOKEN_EDDSA \
	    P11DKIM_TOKEN_DROPS
}

fx_stop() {
	fx_kill "$TPM_ABRMD_PID"
	if [ -n "$TPM_SWTPM_PID" ]; then
		swtpm_ioctl --unix "$FX_DIR/impl/tpm.sock.ctrl" -s >/dev/null 2>&1
		fx_kill "$TPM_SWTPM_PID"
	fi
	fx_kill "$TPM_BUS_PID"
	TPM_SWTPM_PID="" TPM_BUS_PID="" TPM_ABRMD_PID=""
}

# fx_setup_token LABEL SO_PIN_FILE USER_PIN_FILE - with tpm2_ptool
fx_setup_token() {
	tpm2_ptool init >/dev/null &&
	    tpm2_ptool addtoken --pid=1 --label="$1" --sopin="$(cat "$2")" \
	    --userpin="$(cat "$3")" >/dev/null
}

fx_main "$@"
