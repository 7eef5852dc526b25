#!/bin/sh
# run.sh - integration tests on real SoftHSM2 tokens.  Each test gets a
# throw-away token store under mktemp -d (SOFTHSM2_CONF points there);
# /var/lib/softhsm and ~/.config/softhsm2 are never touched.
#   run.sh PROGRAM [ARGS]   run one test program or script in such a store
set -u
[ $# -ge 1 ] || { echo "usage: run.sh PROGRAM [ARGS]" >&2; exit 64; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$tmp" >"$tmp/softhsm2.conf"
SOFTHSM2_CONF="$tmp/softhsm2.conf" P11DKIM_TEST_DIR="$tmp" "$@"
