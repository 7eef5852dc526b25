#!/bin/sh
# production_steps.sh - the production steps of README.md and
# docs/p11dkimd.md on the installed packages, in the throw-away root that
# tests/package/package_test.sh makes (never run it elsewhere: it installs
# packages, creates users and starts Postfix's system instance).
#
#   production_steps.sh TOP DEBDIR
#
# Each step runs as the user the docs say: the ceremony and the PIN files
# as p11dkim-signer, signing as a mailer in p11dkim-clients, the daemon as
# root with the unit's ExecStart, LimitNOFILE, UMask and a NOTIFY_SOCKET,
# as systemd starts it (systemd does not run here); dpkg, the
# configuration and Postfix as root.  Last line:
# "production-steps: N passed, M failed".
set -u
top=$1
debs=$2
PY=/usr/bin/python3
UNIT=/lib/systemd/system/p11dkimd.service
CONF=/etc/p11dkim/p11dkim.conf
SOCK=/run/p11dkim/p11dkimd.sock
passed=0
failed=0
daemon=
sink=

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { desc=$1; shift; if "$@"; then ok; else bad "$desc"; fi; }
step() { echo "== $*"; }
finish() {
	echo "production-steps: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
# S - as the signer's user, as the docs say for the ceremony and PINs
S() { runuser -u p11dkim-signer -- "$@"; }
# K - p11dkim-keys as p11dkim-signer (what it says goes to keys.log)
K() { S p11dkim-keys --operator test "$@"; }
Kq() {
	K "$@" >>"$W/keys.log" 2>&1 && return 0
	tail -n 5 "$W/keys.log"
	return 1
}
# verify FILE - dkimpy, with the key table of `p11dkim-keys dns`
verify() {
	$PY "$top/tests/xverify/verify_dkimpy.py" "$W/keys.txt" "$1" >"$W/verify.log" 2>&1 && return 0
	cat "$W/verify.log"
	return 1
}
# unit_value NAME - a setting of the installed unit
unit_value() { sed -n "s/^$1=//p" "$UNIT"; }
# owner_mode PATH - "user:group mode"
owner_mode() { stat -c '%U:%G %a' "$1"; }
# wait_for SECONDS CMD... - until CMD succeeds
wait_for() {
	n=$(($1 * 10))
	shift
	while ! "$@" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

W=$(mktemp -d)
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; postfix stop >/dev/null 2>&1; [ -n "$sink" ] && kill "$sink"' EXIT

step "install the packages"
if dpkg -i "$debs"/p11dkim_*.deb "$debs"/libp11dkimclient1_*.deb \
    "$debs"/libp11dkimclient-dev_*.deb >"$W/dpkg.log" 2>&1; then ok; else
	bad "dpkg -i:"
	cat "$W/dpkg.log"
	finish
fi
check "user p11dkim" getent passwd p11dkim >/dev/null
check "user p11dkim-signer, in group softhsm" sh -c 'id -nG p11dkim-signer | grep -qw softhsm'
check "group p11dkim-clients" getent group p11dkim-clients >/dev/null
check "/var/lib/p11dkim p11dkim-signer's, 755: $(owner_mode /var/lib/p11dkim)" \
    test "$(owner_mode /var/lib/p11dkim)" = "p11dkim-signer:p11dkim-signer 755"
check "/etc/p11dkim/pins p11dkim-signer's, 700: $(owner_mode /etc/p11dkim/pins)" \
    test "$(owner_mode /etc/p11dkim/pins)" = "p11dkim-signer:p11dkim-signer 700"
check "/run/p11dkim root's, 755" test "$(owner_mode /run/p11dkim)" = "root:root 755"
check "/var/log/p11dkim/trail p11dkim-signer's, 750: $(owner_mode /var/log/p11dkim/trail)" \
    test "$(owner_mode /var/log/p11dkim/trail)" = "p11dkim-signer:p11dkim-signer 750"
check "/etc/logrotate.d/p11dkim rotates the trail" \
    grep -q '^/var/log/p11dkim/trail/\*.trail' /etc/logrotate.d/p11dkim
check "$CONF is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' p11dkim | grep -q '$CONF'"
check "the unit is not enabled at install" test ! -e /etc/systemd/system/multi-user.target.wants/p11dkimd.service
check "the unit is Type=notify" test "$(unit_value Type)" = notify
systemd-analyze verify "$UNIT" >"$W/verify.log" 2>&1
check "systemd-analyze verify: $(cat "$W/verify.log")" test $? -eq 0 -a ! -s "$W/verify.log"
check "p11dkimd -n accepts the shipped configuration" p11dkimd -n -c "$CONF" >/dev/null

step "configure (root): two institutions, a mailer, Postfix's socket folder"
useradd -G p11dkim-clients mailer && useradd -G p11dkim-clients other || bad "useradd"
# Opt-in: the milter socket inside Postfix's chroot (README.md, Postfix).
cp /usr/share/doc/p11dkim/examples/p11dkim-postfix.tmpfiles /etc/tmpfiles.d/p11dkim-postfix.conf
systemd-tmpfiles --create /etc/tmpfiles.d/p11dkim-postfix.conf
check "/var/spool/postfix/p11dkim root:postfix 750" \
    test "$(owner_mode /var/spool/postfix/p11dkim)" = "root:postfix 750"
# log: syslog would go to the journal under systemd; no syslog here.
sed -e 's/^log = "syslog"/log = "stderr"/' \
    -e 's/allow-uids = { "root" }/allow-uids = { "mailer" }/' \
    -e 's|^milter "unix:/run/p11dkim/milter.sock" {|milter "unix:/var/spool/postfix/p11dkim/milter.sock" {\n\tgroup = "postfix"|' \
    /usr/share/doc/p11dkim/examples/p11dkim.conf >"$CONF"
cat >>"$CONF" <<'EOF'

institution venue {
	domains = { "venue.example.org" }
	pin = "file:/etc/p11dkim/pins/venue.pin"
	active-selector = "stxsel1"
	algorithm = "ed25519-sha256"
	key-type = "ed25519"
	allow-uids = { "mailer" }
}
EOF

step "PIN files and the key ceremony, as p11dkim-signer"
S sh -c 'umask 077; for p in so mosa venue; do
	printf "%s-pin-12345678\n" "$p" >/etc/p11dkim/pins/$p.pin; done'
check "PIN files p11dkim-signer's, 600" \
    test "$(owner_mode /etc/p11dkim/pins/mosa.pin)" = "p11dkim-signer:p11dkim-signer 600"
: >"$W/keys.txt"
for i in mosa:mosamuseum.com venue:venue.example.org; do
	inst=${i%%:*} dom=${i#*:}
	check "init-token $inst" Kq init-token "$inst" --so-pin file:/etc/p11dkim/pins/so.pin \
	    --pin "file:/etc/p11dkim/pins/$inst.pin"
	check "generate $inst" Kq generate "$inst"
	K dns "$inst" >"$W/$inst.zone"
	check "check-dns --promote $inst" Kq check-dns "$inst" --promote --zone - <"$W/$inst.zone"
done
check "audit" Kq audit
for f in mosa.stxsel1 venue.stxsel1; do
	check "public key record $f p11dkim-signer's, 644: $(owner_mode /var/lib/p11dkim/$f.spki)" \
	    test "$(owner_mode /var/lib/p11dkim/$f.spki)" = "p11dkim-signer:p11dkim-signer 644"
done
check "log verify" Kq log verify
check "the tokens are p11dkim-signer's" sh -c \
    '! find /var/lib/softhsm/tokens -mindepth 1 ! -user p11dkim-signer | grep -q .'

# keytable - the verifiers' key table from `p11dkim-keys dns`
keytable() {
	for i in mosa:mosamuseum.com venue:venue.example.org; do
		K dns "${i%%:*}"
	done | $PY -c '
import re, sys
t = sys.stdin.read()
doms = {"mosa": "mosamuseum.com", "venue": "venue.example.org"}
for n, inst, rec in re.findall(r"sel(\d)-(\w+)\._domainkey\S* IN TXT \((.*?)\)", t, re.S):
    print("stxsel%s._domainkey.%s %s" % (n, doms[inst], "".join(re.findall(r"\"([^\"]*)\"", rec))))
' >"$W/keys.txt"
}
keytable

step "start p11dkimd as the unit does"
EXEC=$(unit_value ExecStart)
LIMIT=$(unit_value LimitNOFILE)
UMASK=$(unit_value UMask)
install -d -m "$(unit_value RuntimeDirectoryMode)" "/run/$(unit_value RuntimeDirectory)"
$PY -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".bound", "w").close()
s.settimeout(float(sys.argv[3]))
open(sys.argv[2], "w").write(s.recv(4096).decode())
' "$W/notify.sock" "$W/notify.msg" "$(unit_value TimeoutStartSec)" &
wait_for 10 test -e "$W/notify.msg.bound"
# shellcheck disable=SC2086
(umask "$UMASK"; exec prlimit --nofile="$LIMIT" -- env NOTIFY_SOCKET="$W/notify.sock" \
    $EXEC) >"$W/daemon.log" 2>&1 &
daemon=$!
if wait_for 150 grep -qx READY=1 "$W/notify.msg"; then ok; else
	bad "no READY=1 from p11dkimd:"
	cat "$W/daemon.log"
	finish
fi
check "READY=1 once the socket serves" test -S "$SOCK"
check "the milter socket is in Postfix's spool" test -S /var/spool/postfix/p11dkim/milter.sock
users=$(ps -o user= --ppid "$daemon" | sort | tr '\n' ' ')
check "parent root, fronts p11dkim, signer p11dkim-signer: $(ps -o user= -p "$daemon") / $users" \
    test "$(ps -o user= -p "$daemon" | tr -d ' ')/$users" = "root/p11dkim p11dkim p11dkim-signer "
check "the native socket root:p11dkim-clients 660" \
    test "$(owner_mode "$SOCK")" = "root:p11dkim-clients 660"
for pid in $(ps -o pid= --ppid "$daemon"); do
	soft=$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")
	case $(ps -o user= -p "$pid") in
	p11dkim-signer) check "the signer keeps 1024 descriptors ($soft)" test "$soft" = 1024 ;;
	*) check "a front may open ${LIMIT#*:} descriptors ($soft)" test "$soft" = "${LIMIT#*:}" ;;
	esac
done

check "p11dkim-ctl status: running (the installed program, the default file)" \
    sh -c 'p11dkim-ctl status | grep -q "^p11dkimd is running"'
check "p11dkim-ctl stats: the counters, with the package's version" \
    sh -c "p11dkim-ctl stats | grep -q '^p11dkim_build_info{front=\"native\",version=\"$(p11dkimd --version | cut -d' ' -f2)\"} 1\$'"

step "sign as mailer (p11dkim-sign, and a program built with pkg-config)"
printf 'From: Tickets <tickets@mosamuseum.com>\r\nTo: v@example.org\r\nSubject: tickets\r\nDate: Thu, 26 Nov 2026 10:00:00 +0100\r\nMessage-ID: <m1@mosamuseum.com>\r\n\r\nHello.\r\n' >"$W/mosa.eml"
sed 's/mosamuseum.com/venue.example.org/g' "$W/mosa.eml" >"$W/venue.eml"
runuser -u mailer -- p11dkim-sign <"$W/mosa.eml" >"$W/mosa.signed"
check "p11dkim-sign as mailer: exit 0" test $? -eq 0
check "dkimpy verifies it (mosa, rsa-sha256)" \
    verify "$W/mosa.signed"
# shellcheck disable=SC2046
check "a mailer builds with pkg-config libp11dkimclient" \
    cc -o /usr/local/bin/tiny_client "$top/tests/install/tiny_client.c" \
    $(pkg-config --cflags --libs libp11dkimclient)
runuser -u mailer -- tiny_client "$SOCK" <"$W/venue.eml" >"$W/venue.signed"
check "libp11dkimclient.so.1 as mailer: exit 0" test $? -eq 0
check "dkimpy verifies it (venue, ed25519-sha256)" \
    verify "$W/venue.signed"
runuser -u other -- p11dkim-sign <"$W/mosa.eml" >/dev/null 2>"$W/other.err"
check "a client not in allow-uids is refused (exit 77)" test $? -eq 77
runuser -u nobody -- p11dkim-sign <"$W/mosa.eml" >/dev/null 2>"$W/nobody.err"
check "a user outside p11dkim-clients cannot connect (exit 75)" test $? -eq 75

step "Postfix on Debian's chroot, main.cf as README.md says"
[ -f /etc/postfix/main.cf ] || cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
echo mta.test >/etc/mailname
postconf -e 'smtpd_milters = unix:p11dkim/milter.sock' \
    'non_smtpd_milters = $smtpd_milters' 'milter_default_action = tempfail' \
    'myhostname = mta.test' 'mydestination =' 'inet_interfaces = loopback-only' \
    'inet_protocols = ipv4' 'relayhost = [127.0.0.1]:2525' \
    'maillog_file = /var/log/postfix.log' 'smtp_dns_support_level = disabled'
check "Debian's master.cf chroots smtpd" sh -c \
    "awk '\$1 == \"smtp\" && \$2 == \"inet\" { print \$5 }' /etc/postfix/master.cf | grep -qx y"
mkdir -p "$W/out"
smtp-sink -u root -d "$W/out/%M." 127.0.0.1:2525 10 >"$W/sink.log" 2>&1 &
sink=$!
# What Debian's postfix@- service runs: ExecStartPre, then the start.
if /usr/lib/postfix/configure-instance.sh - >"$W/postfix.log" 2>&1 &&
    postfix start >>"$W/postfix.log" 2>&1; then ok; else
	bad "postfix start:"
	cat "$W/postfix.log"
fi
. "$top/tests/milter/postfix_fixture.sh"
wait_for 20 swaks --server 127.0.0.1:25 --quit-after CONNECT >/dev/null
sed 's/m1@/m2@/' "$W/mosa.eml" >"$W/pf.eml"
check "swaks to Postfix" swaks --server 127.0.0.1:25 --from tickets@mosamuseum.com \
    --to v@example.org --data "@$W/pf.eml" --timeout 30 >"$W/swaks.log" 2>&1
if wait_for 30 sh -c "ls '$W'/out/* | grep -q . && [ -z \"\$(find /var/spool/postfix/active /var/spool/postfix/incoming -type f)\" ]"; then ok; else
	bad "Postfix did not deliver:"
	tail -n 20 /var/log/postfix.log
fi
for f in "$W"/out/*; do
	[ -f "$f" ] || continue
	pf_delivered_clean "$f" "$W/pf.signed"
	check "delivered through the milter, signed, dkimpy verifies" \
	    verify "$W/pf.signed"
done
postfix stop >/dev/null 2>&1

step "rotate (p11dkim-signer) and reload (ExecReload)"
check "rotate start" Kq rotate mosa start
check "rotate publish" Kq rotate mosa publish
# What DNS then serves: our TXT records, and the CNAMEs the institution
# made for both selectors (rotate verify checks the new selector's).
K dns mosa 2>>"$W/keys.log" >"$W/rot.zone"
check "rotate verify" Kq rotate mosa verify --zone - <"$W/rot.zone"
check "rotate activate" Kq rotate mosa activate
keytable
# shellcheck disable=SC2046
$(unit_value ExecReload | sed "s/\$MAINPID/$daemon/")
check "configuration reloaded" wait_for 60 grep -q "configuration reloaded" "$W/daemon.log"
runuser -u mailer -- p11dkim-sign <"$W/mosa.eml" >"$W/rot.signed"
check "after the reload: s=stxsel2" sh -c "tr -d '\r\n\t ' <'$W/rot.signed' | grep -q 's=stxsel2;'"
check "dkimpy verifies it" verify "$W/rot.signed"

step "stop (SIGTERM, as systemd's KillMode=mixed sends it to the parent)"
kill -TERM "$daemon"
wait "$daemon"
check "p11dkimd exits 0" test $? -eq 0
daemon=
check "the socket is gone" test ! -e "$SOCK"

step "purge"
check "dpkg --purge" sh -c "dpkg --purge p11dkim libp11dkimclient-dev libp11dkimclient1 >'$W/purge.log' 2>&1"
check "the programs are gone" test ! -e /usr/sbin/p11dkimd -a ! -e /usr/bin/p11dkim-keys
check "the conffile is gone" test ! -e "$CONF"
check "the library is gone" sh -c '! ls /usr/lib/*/libp11dkimclient.so* 2>/dev/null | grep -q .'
check "dpkg knows none of them" sh -c \
    '! dpkg-query -W -f="\${db:Status-Abbrev}\n" p11dkim libp11dkimclient1 libp11dkimclient-dev 2>/dev/null | grep -q "^[ir]"'
finish
