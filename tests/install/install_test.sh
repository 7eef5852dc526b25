#!/bin/sh
# install_test.sh - what `make install` installs, and a mailer built
# against the installed client library through pkg-config alone.
#
# Installs into a throw-away DESTDIR (PREFIX=/opt/p11dkim) and checks: the
# public header is the only header, there is no static library, the shared
# library has its soname and links and exports exactly the functions of
# client.h, the pkg-config file, the unit (with ExecStart in this SBINDIR,
# and every line read by systemd-analyze verify), sysusers.d and
# tmpfiles.d; then builds tests/install/tiny_client.c with
# `pkg-config --cflags --libs libp11dkimclient` only, and runs it against
# tests/client/fake_daemon.py and against no daemon.
#
# Last line: "install-test: N passed, M failed".
set -u
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX=/opt/p11dkim
passed=0
failed=0
daemon_pid=

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }

T=$(mktemp -d)
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# A sanitizer build installs an instrumented library: its users need the
# runtime too.
SAN=0 SANFLAGS=
case $BUILD in *-san) SAN=1 SANFLAGS="-fsanitize=address,undefined" ;; esac

R=$T/root
if ! make -C "$top" --no-print-directory install SAN=$SAN DESTDIR="$R" \
    PREFIX=$PREFIX >"$T/install.log" 2>&1; then
	bad "make install"
	cat "$T/install.log"
	echo "install-test: $passed passed, $failed failed"
	exit 1
fi
ok
L=$R$PREFIX/lib

# The installed tree, without man pages and docs.
(cd "$R$PREFIX" && find . \( -type f -o -type l \) | sed 's|^\./||' |
    grep -v '^share/' | sort) >"$T/files"
cat >"$T/want" <<EOF
bin/p11dkim-keys
bin/p11dkim-sign
include/p11dkim/client.h
lib/libp11dkimclient.so
lib/libp11dkimclient.so.1
lib/libp11dkimclient.so.1.0.0
lib/pkgconfig/libp11dkimclient.pc
lib/systemd/system/p11dkim-dns-watch.service
lib/systemd/system/p11dkim-dns-watch.timer
lib/systemd/system/p11dkimd.service
lib/sysusers.d/p11dkim.conf
lib/tmpfiles.d/p11dkim.conf
sbin/p11dkim-ctl
sbin/p11dkimd
EOF
check "installed files (diff want got): $(diff "$T/want" "$T/files" | tr '\n' ' ')" \
    cmp -s "$T/want" "$T/files"
for m in p11dkimd.8 p11dkim-keys.8 p11dkim-sign.1 p11dkim.conf.5 p11dkim-ctl.8; do
	check "man page $m" test -f "$R$PREFIX/share/man/man${m##*.}/$m"
done
for f in README.md p11dkimd.md examples/p11dkim.conf examples/p11dkimd.service \
    examples/p11dkim-postfix.tmpfiles; do
	check "doc $f" test -f "$R$PREFIX/share/doc/p11dkim/$f"
done

# The library: soname, links, exports.
check "soname libp11dkimclient.so.1" sh -c \
    "readelf -d '$L/libp11dkimclient.so.1.0.0' | grep -q 'SONAME.*\[libp11dkimclient.so.1\]'"
check "libp11dkimclient.so.1 -> libp11dkimclient.so.1.0.0" \
    test "$(readlink "$L/libp11dkimclient.so.1")" = libp11dkimclient.so.1.0.0
check "libp11dkimclient.so -> libp11dkimclient.so.1" \
    test "$(readlink "$L/libp11dkimclient.so")" = libp11dkimclient.so.1
nm -D --defined-only "$L/libp11dkimclient.so.1.0.0" | awk '$2 ~ /^[TDBRW]$/ { print $3 }' |
    sed 's/@.*//' | sort >"$T/exported"
grep -o 'p11dkim_client_[a-z_]*(' "$top/include/p11dkim/client.h" | tr -d '(' |
    sort -u >"$T/api"
check "the library exports exactly client.h's functions: $(diff "$T/api" "$T/exported" | tr '\n' ' ')" \
    cmp -s "$T/api" "$T/exported"
check "... all in version P11DKIMCLIENT_1" sh -c \
    "! nm -D --defined-only '$L/libp11dkimclient.so.1.0.0' | grep ' T ' | grep -qv '@@P11DKIMCLIENT_1\$'"
check "the unit starts $PREFIX/sbin/p11dkimd" \
    grep -qx "ExecStart=$PREFIX/sbin/p11dkimd -f -c /etc/p11dkim/p11dkim.conf" \
    "$L/systemd/system/p11dkimd.service"

# systemd reads every line of the unit (its own ExecStart checked too).
sed "s|=$PREFIX/sbin/p11dkimd|=$R$PREFIX/sbin/p11dkimd|" \
    "$L/systemd/system/p11dkimd.service" >"$T/p11dkimd.service"
if systemd-analyze verify --man=no "$T/p11dkimd.service" >"$T/verify.log" 2>&1 &&
    [ ! -s "$T/verify.log" ]; then ok; else
	bad "systemd-analyze verify p11dkimd.service:"
	cat "$T/verify.log"
fi
check "the dns-watch unit starts $PREFIX/bin/p11dkim-keys" \
    grep -q "^ExecStart=$PREFIX/bin/p11dkim-keys .* dns-watch " \
    "$L/systemd/system/p11dkim-dns-watch.service"
sed "s|=$PREFIX/bin/p11dkim-keys|=$R$PREFIX/bin/p11dkim-keys|" \
    "$L/systemd/system/p11dkim-dns-watch.service" >"$T/p11dkim-dns-watch.service"
cp "$L/systemd/system/p11dkim-dns-watch.timer" "$T/"
if systemd-analyze verify --man=no "$T/p11dkim-dns-watch.service" \
    "$T/p11dkim-dns-watch.timer" >"$T/verify.log" 2>&1 &&
    [ ! -s "$T/verify.log" ]; then ok; else
	bad "systemd-analyze verify p11dkim-dns-watch.service and .timer:"
	cat "$T/verify.log"
fi

# A mailer built with what pkg-config says, and nothing else.
PKG="env PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=$L/pkgconfig PKG_CONFIG_SYSROOT_DIR=$R pkg-config"
check "pkg-config knows libp11dkimclient 0.1.0" \
    test "$($PKG --modversion libp11dkimclient 2>&1)" = 0.1.0
# shellcheck disable=SC2046
if cc $SANFLAGS -o "$T/tiny" "$top/tests/install/tiny_client.c" \
    $($PKG --cflags --libs libp11dkimclient) >"$T/cc.log" 2>&1; then ok; else
	bad "tiny_client does not build with pkg-config's flags:"
	cat "$T/cc.log"
fi
check "tiny_client needs libp11dkimclient.so.1" sh -c \
    "readelf -d '$T/tiny' | grep -q 'NEEDED.*\[libp11dkimclient.so.1\]'"
export LD_LIBRARY_PATH="$L"

printf 'From: a@mosamuseum.com\r\nSubject: hello\r\n\r\nbody\r\n' >"$T/msg"
"$T/tiny" "$T/none.sock" <"$T/msg" >"$T/out" 2>"$T/err"
rc=$?
check "no daemon: TEMPFAIL (75) naming the socket ($rc: $(cat "$T/err"))" \
    sh -c "[ $rc -eq 75 ] && grep -q 'TEMPFAIL.*$T/none.sock' '$T/err'"

python3 "$top/tests/client/fake_daemon.py" "$T/fake.sock" "$T/fake.log" 2>"$T/fake.err" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$T/fake.sock" ] && break; sleep 0.05; done
"$T/tiny" "$T/fake.sock" <"$T/msg" >"$T/out" 2>"$T/err"
rc=$?
{ printf 'DKIM-Signature: v=1; a=rsa-sha256; b=x\r\n'; cat "$T/msg"; } >"$T/want.eml"
check "through the installed library: the signature, then the message ($rc: $(cat "$T/err"))" \
    sh -c "[ $rc -eq 0 ] && cmp -s '$T/want.eml' '$T/out'"

echo "install-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
