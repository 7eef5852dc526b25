#!/bin/sh
# check-layers.sh - the layering of ../shared/DESIGN.md, checked on the
# #include lines: each folder may include only the headers of the layers
# below it.  A header include/p11dkim/X.h belongs to the folder holding X.c
# (or, for headers without a .c, to the folder named in LAYER_OF_HEADER).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

# allowed FOLDER - the layers a folder's code may include
allowed() {
	case "$1" in
	util)		echo "util" ;;
	dkim)		echo "util dkim" ;;
	pkcs11)		echo "util pkcs11" ;;
	client)		echo "util client" ;;
	conf)		echo "util dkim conf" ;;
	provisioning)	echo "util pkcs11 conf provisioning" ;;
	daemon)		echo "util dkim pkcs11 conf client daemon" ;;
	ctl)		echo "util dkim conf client ctl" ;;
	*)		echo "*" ;;
	esac
}

# layer_of HEADER - the folder whose .c implements include/p11dkim/HEADER:
# X.c, or for a module split over several files, X_*.c or PREFIX_*.c
layer_of() {
	base=${1%.h}
	prefix=${base%%_*}
	for d in util dkim pkcs11 client conf provisioning daemon; do
		[ -f "$d/$base.c" ] && { echo "$d"; return; }
	done
	for d in util dkim pkcs11 client conf provisioning daemon; do
		for f in "$d/${base}"_*.c "$d/${prefix}"_*.c; do
			[ -f "$f" ] && { echo "$d"; return; }
		done
	done
	echo "?"
}

passed=0
failed=0
for dir in util dkim pkcs11 client conf provisioning daemon ctl; do
	[ -d "$dir" ] || continue
	ok=$(allowed "$dir")
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -f "$f" ] || continue
		bad=0
		for h in $(sed -n 's|^#include "p11dkim/\([a-z0-9_]*\.h\)".*|\1|p' "$f"); do
			layer=$(layer_of "$h")
			case " $ok " in
			*" $layer "*) ;;
			*) echo "FAIL $f includes p11dkim/$h (layer $layer; $dir may use: $ok)"
			   bad=1 ;;
			esac
		done
		if [ "$bad" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	done
done
echo "check-layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
