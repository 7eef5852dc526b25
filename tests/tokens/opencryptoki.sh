#!/bin/sh
# opencryptoki.sh - run a test against a fresh openCryptoki 3.8 software
# token (see fixture.sh for the interface).
#
# openCryptoki's paths are fixed at build time (/etc/opencryptoki,
# /var/lib/opencryptoki, /run/lock/opencryptoki) and its slot daemon
# pkcsslotd talks to the library through SysV shared memory.  So the
# whole run happens in private mount, IPC and PID namespaces (unshare;
# needs root): tmpfs on /run and /dev/shm, our own directories bound over the other
# two, and pkcsslotd started inside.  When the run ends, the namespace's
# first process ends and the kernel stops everything left in it; the
# host's openCryptoki, if any, is never seen.
#
# One slot (0), the software token.  PINs are 4 to 8 characters; its
# factory SO PIN is 87654321 and C_InitToken does not set a new one, so
# `p11dkim-keys init-token` cannot set the token up: setup-token uses
# pkcsconf as a security officer would (initialize, change the SO PIN,
# set the user PIN).
set -u
FX_NAME=opencryptoki
FX_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$(dirname "$FX_SCRIPT")/fixture.sh"
OCK_FACTORY_SO_PIN=87654321

if [ "${1:-}" != setup-token ] && [ -z "${P11DKIM_OCK_NAMESPACE:-}" ]; then
	[ "$(id -u)" = 0 ] || { fx_log "needs root (unshare)"; exit 1; }
	P11DKIM_OCK_NAMESPACE=1
	export P11DKIM_OCK_NAMESPACE
	exec unshare --mount --ipc --pid --fork --kill-child --mount-proc \
	    --propagation private "$FX_SCRIPT" "$@"
fi

fx_start() {
	d=$FX_DIR/impl
	mkdir -p "$d/etc" "$d/lib/swtok/TOK_OBJ" || return 1
	printf 'version opencryptoki-3.1\n\nslot 0\n{\nstdll = libpkcs11_sw.so\n}\n' \
	    >"$d/etc/opencryptoki.conf"
	mount -t tmpfs -o mode=0755 tmpfs /run || return 1
	# The token's state lives in POSIX shared memory (shm_open: files in
	# /dev/shm, which the IPC namespace does not cover): a private one, or
	# two fixtures at once share a token and one's set-up resets the
	# other's (seen: CKR_PIN_EXPIRED and a token with no keys).
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm || return 1
	mkdir -p /run/lock/opencryptoki/swtok
	chgrp -R pkcs11 /run/lock/opencryptoki "$d/lib" "$d/etc"
	chmod -R 0770 /run/lock/opencryptoki "$d/lib"
	mount --bind "$d/etc" /etc/opencryptoki || return 1
	mount --bind "$d/lib" /var/lib/opencryptoki || return 1
	pkcsslotd || return 1
	fx_wait_for pkcsslotd 100 test -s /run/pkcsslotd.pid || return 1
	P11DKIM_TEST_MODULE=/usr/lib/x86_64-linux-gnu/opencryptoki/libopencryptoki.so.0
	P11DKIM_TOKEN_INIT=vendor
	P11DKIM_TOKEN_PIN_MAX=8
	P11DKIM_TOKEN_EDDSA=0
	P11DKIM_TOKEN_DROPS="CKA_COPYABLE,CKA_ALLOWED_MECHANISMS"
	export P11DKIM_TEST_MODULE P11DKIM_TOKEN_INIT P11DKIM_TOKEN_PIN_MAX \
	    P11DKIM_TOKEN_EDDSA P11DKIM_TOKEN_DROPS
}

fx_stop() {
	[ -s /run/pkcsslotd.pid ] && fx_kill "$(cat /run/pkcsslotd.pid)"
	return 0
}

# fx_setup_token LABEL SO_PIN_FILE USER_PIN_FILE - with pkcsconf
fx_setup_token() {
	so=$(cat "$2") user=$(cat "$3")
	echo "$1" | pkcsconf -I -c 0 -S "$OCK_FACTORY_SO_PIN" >/dev/null &&
	    pkcsconf -P -c 0 -S "$OCK_FACTORY_SO_PIN" -n "$so" >/dev/null &&
	    pkcsconf -u -c 0 -S "$so" -n "$user" >/dev/null
}

fx_main "$@"
