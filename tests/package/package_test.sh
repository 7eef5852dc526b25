#!/bin/sh
# package_test.sh - the Debian packages, built, checked, installed and used
# as the documentation says for production.  `make check-package` runs it
# (as root; it takes two to three minutes).
#
#   1. builds p11dkim, libp11dkimclient1 and libp11dkimclient-dev with
#      dpkg-buildpackage -us -uc -b from a copy of the source tree;
#   2. runs lintian on them: an error fails the test, warnings are shown;
#   3. installs them in a throw-away root and runs
#      tests/package/production_steps.sh there: users and folders, the key
#      ceremony for two institutions as p11dkim-signer, the daemon started
#      with the unit's ExecStart as systemd would, p11dkim-ctl status and
#      stats, signing as an allowed user, Postfix on Debian's chroot
#      through the milter, rotation and reload, stop, purge.
#
# The throw-away root: new mount, PID and network namespaces (unshare);
# an overlay whose lower layer is the machine's / and whose upper layer is
# a tmpfs, with /proc, /dev and a fresh /run; chroot into it.  dpkg,
# systemd-sysusers, the token store and Postfix's spool write to the tmpfs
# only; when the test ends, the namespaces and everything in them go (every
# process started inside is killed with them).  Nothing of the machine is
# changed but the temporary directory, which is removed.
#
# Last line: "package-test: N passed, M failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)

# in_root T - inside the namespaces: make the root, then run the steps
in_root() {
	T=$1 R=$1/root
	mount --make-rprivate / &&
	mkdir -p "$T/ovl" "$R" &&
	mount -t tmpfs -o mode=0755 tmpfs "$T/ovl" &&
	mkdir "$T/ovl/upper" "$T/ovl/work" &&
	mount -t overlay overlay \
	    -o "lowerdir=/,upperdir=$T/ovl/upper,workdir=$T/ovl/work" "$R" &&
	mount -t proc proc "$R/proc" &&
	mount --rbind /dev "$R/dev" &&
	mount -t tmpfs -o mode=0755 tmpfs "$R/run" &&
	mkdir -p "$R$top" "$R$T/debs" &&
	mount --bind "$top" "$R$top" &&
	mount -o remount,bind,ro "$R$top" &&
	mount --bind "$T/debs" "$R$T/debs" &&
	ip link set lo up || { echo "FAIL could not make the throw-away root"; exit 1; }
	exec chroot "$R" /bin/sh "$top/tests/package/production_steps.sh" \
	    "$top" "$T/debs"
}

if [ "${1:-}" = --in-root ]; then
	in_root "$2"
fi

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
	echo "package-test: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ]; then
	bad "must run as root (dpkg -i and the throw-away root)"
	finish
fi
for cmd in dpkg-buildpackage dh lintian unshare chroot ip; do
	command -v "$cmd" >/dev/null || { bad "no $cmd: scripts/install-deps --package"; finish; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
start=$(date +%s)

# 1. Build, from the tracked and new files of the tree (not build/, run/).
mkdir "$T/src" "$T/debs"
if (cd "$top" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - ) |
    tar -xf - -C "$T/src" && [ -f "$T/src/debian/rules" ]; then ok; else
	bad "cannot copy the source tree"
	finish
fi
if (cd "$T/src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then ok; else
	bad "dpkg-buildpackage failed:"
	tail -n 40 "$T/build.log"
	finish
fi
mv "$T"/*.deb "$T"/*.changes "$T"/*.buildinfo "$T/debs/"
for p in p11dkim libp11dkimclient1 libp11dkimclient-dev; do
	if ls "$T/debs/${p}_"*.deb >/dev/null 2>&1; then ok; else bad "no package $p"; fi
done
echo "built in $(($(date +%s) - start)) s"

# 2. lintian: errors fail, warnings are shown.
lintian --fail-on error --display-info --pedantic "$T"/debs/*.changes \
    >"$T/lintian.log" 2>&1
rc=$?
echo "lintian: $(grep -c '^E:' "$T/lintian.log") errors," \
    "$(grep -c '^W:' "$T/lintian.log") warnings"
grep -v '^running with root privileges' "$T/lintian.log"
if [ $rc -eq 0 ]; then ok; else bad "lintian found errors"; fi

# 3. Install and use them in a throw-away root.
unshare --mount --pid --net --fork --kill-child \
    /bin/sh "$0" --in-root "$T" >"$T/steps.log" 2>&1
rc=$?
cat "$T/steps.log"
line=$(grep -E '^production-steps: [0-9]+ passed, [0-9]+ failed' "$T/steps.log" | tail -1)
p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then bad "the steps did not finish (exit $rc)"; fi
echo "package test took $(($(date +%s) - start)) s"
finish
