# postfix_fixture.sh - a private Postfix instance in a temp directory, as a
# test fixture for milters (sourced; POSIX sh plus `local`).
#
#   . tests/milter/postfix_fixture.sh
#   trap 'pf_stop' EXIT; trap 'exit 1' INT TERM HUP
#   pf_start "$T/pf" unix:"$T/milter.sock" ['main.cf line' ...] || exit 1
#   pf_send_smtp     a@mosamuseum.com b@example.org msg.eml
#   pf_send_sendmail a@mosamuseum.com b@example.org msg.eml
#   pf_wait_delivered 2 30 || exit 1
#   for f in "$PF_DIR"/out/*; do pf_delivered_clean "$f" "$f.eml"; done
#   pf_stop
#
# What it offers: Postfix (smtpd and the non-SMTP pickup path) with the
# given milter in smtpd_milters and non_smtpd_milters, relaying every
# message to an smtp-sink that writes each one to a file in $PF_DIR/out/.
# Both listen on free 127.0.0.1 ports.  The recipe, and the traps it
# avoids, are in /work/shared/POSTFIX-TEST-NOTES.md and
# tests/milter/README.md.  Functions return non-zero and say why on
# stderr; they never exit (the calling script decides).
#
# Variables for the caller after pf_start: PF_DIR (the instance's
# directory), PF_CONF (its config_directory), PF_SMTP_PORT, PF_SINK_PORT,
# PF_MAILLOG, PF_MILTER (the milter as written in main.cf).
#
# PF_CHROOT=1 before pf_start keeps the system master.cf's chroot column
# (Debian's: smtpd, cleanup, pickup and most others chrooted in the queue
# directory) and fills the jail as Debian's postfix@ service does
# (/usr/lib/postfix/configure-instance.sh).  The milter may then be given
# as Postfix resolves it there: unix:NAME, relative to the queue
# directory (DIR/queue), as in "smtpd_milters = unix:p11dkim/milter.sock".
#
# Security notes: everything lives under the directory given to pf_start;
# the system's /etc/postfix is only read (master.cf is copied), the
# system's Postfix is never started.  Needs root (Postfix's master, and
# smtp-sink on a port it picks).  Both listeners are bound to 127.0.0.1
# only.  `postfix set-permissions` resets the modes of Postfix's own
# binaries to the package's values (the notes ask for it).
#
# pf_start must run in the calling shell, not in $(...) or a pipeline:
# pf_stop needs smtp-sink's pid, and the variables it sets.

PF_DIR=
PF_CONF=
PF_SMTP_PORT=
PF_SINK_PORT=
PF_SINK_PID=
PF_MAILLOG=
PF_MILTER=
PF_STARTED=0
PF_CHROOT=${PF_CHROOT:-0}			# 1: services chrooted as in Debian
PF_START_TIMEOUT=${PF_START_TIMEOUT:-20}	# seconds until port 25 answers
PF_SEND_TIMEOUT=${PF_SEND_TIMEOUT:-60}		# seconds for one swaks/sendmail
PF_MILTER_TIMEOUT=${PF_MILTER_TIMEOUT:-30}	# Postfix's milter timeouts

# pf__err - one line on stderr, prefixed
pf__err() {
	echo "postfix_fixture: $*" >&2
}

# pf__free_port - print a TCP port that is free on 127.0.0.1 right now
pf__free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pf__banner PORT SECONDS - wait until 127.0.0.1:PORT greets with 220
pf__banner() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            if s.makefile("rb").readline().startswith(b"220"):
                s.sendall(b"QUIT\r\n")
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
}

# pf__postfix_can - test(1) as user postfix: pf__postfix_can -w PATH
pf__postfix_can() {
	runuser -u postfix -- test "$1" "$2"
}

# pf__milter_spec SPEC - normalize to Postfix syntax (unix:/p, inet:h:p)
pf__milter_spec() {
	case $1 in
	unix:/* | inet:*) echo "$1" ;;
	local:/*) echo "unix:${1#local:}" ;;
	/*) echo "unix:$1" ;;
	unix:?*) echo "$1" ;;	# relative to the queue directory
	*) pf__err "milter '$1': want unix:/PATH, /PATH, unix:NAME or" \
	       "inet:HOST:PORT"
	   return 1 ;;
	esac
}

# pf__milter_path SPEC DIR - the socket file a unix: milter names; Postfix
# resolves a relative name in the queue directory DIR/queue (its working
# directory, chrooted or not)
pf__milter_path() {
	case $1 in
	unix:/*) echo "${1#unix:}" ;;
	unix:*) echo "$2/queue/${1#unix:}" ;;
	esac
}

# pf__check_milter SPEC DIR - can user postfix connect to this unix socket?
#
# The trap from the notes: Postfix's smtpd and cleanup run as user
# postfix, so the socket must be writable by it and every directory above
# it searchable (mktemp -d makes mode 700 directories).  access(2) as
# postfix checks both at once.  We never chmod anything here: the milter
# owns its socket; the caller owns the directories.
pf__check_milter() {
	local path
	case $1 in unix:*) ;; *) return 0 ;; esac
	path=$(pf__milter_path "$1" "$2")
	if [ ! -S "$path" ]; then
		pf__err "no milter socket at $path (start the milter first)"
		return 1
	fi
	if ! pf__postfix_can -w "$path"; then
		pf__err "user postfix cannot connect to $path (Postfix would" \
		    "answer 451 'Permission denied'); path modes:"
		namei -l "$path" >&2
		return 1
	fi
}

# pf__master_cf SMTP_PORT - the system master.cf, for a private instance
#
# The smtp inet service listens on 127.0.0.1:PORT; any other inet service
# (submission, smtps, if the system file has them) is dropped with its
# continuation lines so nothing binds a system port; no chroot anywhere
# unless PF_CHROOT=1 (pf__chroot_jail then copies the /etc files and
# libraries the chrooted services need into the queue directory).
pf__master_cf() {
	awk -v port="$1" -v keep_chroot="$PF_CHROOT" '
	/^[ \t]/ { if (!skip) print; next }
	/^#/ || NF < 8 { skip = 0; print; next }
	{
		skip = 0
		if ($2 == "inet") {
			if ($1 != "smtp") { skip = 1; next }
			$1 = "127.0.0.1:" port
		}
		if (keep_chroot != 1)
			$5 = "n"
		print
	}' /etc/postfix/master.cf
}

# pf__main_cf DIR SMTP_PORT SINK_PORT MILTER - main.cf (extra lines appended)
pf__main_cf() {
	cat <<EOF
# private test instance (tests/milter/postfix_fixture.sh)
compatibility_level = 3.6
queue_directory = $1/queue
data_directory = $1/data
maillog_file = $1/maillog
maillog_file_prefixes = $1
myhostname = mta.test
mydomain = test
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$3
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_milters = $4
non_smtpd_milters = $4
milter_default_action = tempfail
milter_connect_timeout = 10s
milter_command_timeout = ${PF_MILTER_TIMEOUT}s
milter_content_timeout = ${PF_MILTER_TIMEOUT}s
# give up fast on a broken fixture instead of retrying for days
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
EOF
}

# pf__chroot_jail - with PF_CHROOT=1, the files chrooted services need,
# in the queue directory, as Debian's postfix@ service makes them before
# every start (its ExecStartPre)
pf__chroot_jail() {
	[ "$PF_CHROOT" = 1 ] || return 0
	if ! MAIL_CONFIG=$PF_CONF /usr/lib/postfix/configure-instance.sh - \
	    >>"$PF_DIR/start.log" 2>&1; then
		pf__err "configure-instance.sh failed:"
		cat "$PF_DIR/start.log" >&2
		return 1
	fi
}

# pf__start_sink - smtp-sink on a free port, writing to $PF_DIR/out/
pf__start_sink() {
	local try
	for try in 1 2 3; do
		PF_SINK_PORT=$(pf__free_port) || return 1
		smtp-sink -u root -h sink.test -t 30 -d "$PF_DIR/out/%M." \
		    "127.0.0.1:$PF_SINK_PORT" 100 >>"$PF_DIR/sink.log" 2>&1 &
		PF_SINK_PID=$!
		if pf__banner "$PF_SINK_PORT" 5; then
			return 0
		fi
		kill "$PF_SINK_PID" 2>/dev/null || :
		wait "$PF_SINK_PID" 2>/dev/null || :
		PF_SINK_PID=
	done
	pf__err "smtp-sink did not start:"
	cat "$PF_DIR/sink.log" >&2
	return 1
}

# pf__layout DIR MILTER SMTP_PORT - directories and configuration files
pf__layout() {
	mkdir -p "$1/conf" "$1/queue" "$1/data" "$1/out" || return 1
	chmod 755 "$1/conf" "$1/queue" "$1/out" || return 1
	chown postfix "$1/data" || return 1
	pf__master_cf "$3" >"$1/conf/master.cf" || return 1
	pf__main_cf "$1" "$3" "$PF_SINK_PORT" "$2" >"$1/conf/main.cf" ||
	    return 1
}

# pf__append_main_cf LINE... - the caller's "name = value" main.cf lines
# (postconf -e: a line for a parameter set above replaces it)
pf__append_main_cf() {
	local line
	for line; do
		if ! postconf -c "$PF_CONF" -e "$line" >"$PF_DIR/postconf.log" 2>&1
		then
			pf__err "main.cf line '$line':"
			cat "$PF_DIR/postconf.log" >&2
			return 1
		fi
	done
}

# pf__postfix_tty CMD - postfix -c CONF CMD with a terminal, to start.log
#
# Postfix commands print their errors only to syslog or a terminal (not to
# a pipe or file): under script(1) stderr is a terminal, so the reason
# lands in start.log.
pf__postfix_tty() {
	echo "# postfix $1" >>"$PF_DIR/start.log"
	timeout 30 script -qec "postfix -c '$PF_CONF' $1" /dev/null \
	    >>"$PF_DIR/start.log" 2>&1
}

# pf__postfix_start - check, set-permissions, start; say why on failure
pf__postfix_start() {
	local cmd
	for cmd in check set-permissions start; do
		[ "$cmd" = start ] && PF_STARTED=1	# pf_stop: master may run
		if ! pf__postfix_tty "$cmd"; then
			pf__err "postfix $cmd failed:"
			cat "$PF_DIR/start.log" >&2
			pf__show_maillog
			return 1
		fi
	done
	if ! pf__banner "$PF_SMTP_PORT" "$PF_START_TIMEOUT"; then
		pf__err "smtpd on 127.0.0.1:$PF_SMTP_PORT did not answer in" \
		    "${PF_START_TIMEOUT}s:"
		script -qec "postfix -c '$PF_CONF' status" /dev/null >&2
		pf__show_maillog
		return 1
	fi
}

# pf__show_maillog - the instance's log on stderr (its last 40 lines)
pf__show_maillog() {
	if [ -s "$PF_MAILLOG" ]; then
		echo "--- $PF_MAILLOG (tail)" >&2
		tail -n 40 "$PF_MAILLOG" >&2
	else
		echo "--- $PF_MAILLOG: empty or missing" >&2
	fi
}

# pf_start DIR MILTER [MAIN_CF_LINE...] - start the instance; 0 when ready
pf_start() {
	local dir milter try
	if [ $# -lt 2 ]; then
		pf__err "usage: pf_start DIR MILTER [main.cf line...]"
		return 1
	fi
	if [ "$PF_STARTED" = 1 ] || [ -n "$PF_SINK_PID" ]; then
		pf__err "an instance is running ($PF_DIR): pf_stop first"
		return 1
	fi
	[ "$(id -u)" = 0 ] || { pf__err "must run as root"; return 1; }
	mkdir -p "$1" && dir=$(cd "$1" && pwd) || return 1
	case $dir$2 in
	*[!A-Za-z0-9/._:@,+-]*)
		# main.cf, master.cf and script -c would all need quoting
		pf__err "DIR and MILTER: letters, digits and /._:@,+- only"
		return 1 ;;
	esac
	milter=$(pf__milter_spec "$2") || return 1
	shift 2
	# user postfix must reach data_directory and the maillog through
	# DIR (mktemp -d gives 700): let it search DIR, not read it
	chmod go+x "$dir" || return 1
	if ! pf__postfix_can -x "$dir"; then
		pf__err "user postfix cannot reach $dir:"
		namei -l "$dir" >&2
		return 1
	fi
	pf__check_milter "$milter" "$dir" || return 1
	PF_DIR=$dir PF_CONF=$dir/conf PF_MAILLOG=$dir/maillog PF_MILTER=$milter
	mkdir -p "$dir/out" || return 1
	pf__start_sink || return 1
	for try in 1 2 3; do
		PF_SMTP_PORT=$(pf__free_port) || break
		if ! pf__layout "$dir" "$milter" "$PF_SMTP_PORT" ||
		    ! pf__append_main_cf "$@" || ! pf__chroot_jail; then
			break
		fi
		pf__postfix_start && return 0
		[ "$try" -lt 3 ] || break
		# the free port was taken between the test and Postfix's bind
		grep -qs 'Address already in use' "$dir/start.log" \
		    "$PF_MAILLOG" || break
		pf__err "127.0.0.1:$PF_SMTP_PORT was taken meanwhile: another port"
		pf__postfix_stop
	done
	pf_stop
	return 1
}

# pf__wire FILE OUT - FILE as SMTP DATA: CRLF, dot-stuffed, final "."
#
# swaks's own DATA fix-up would also expand %DATE%-style tokens and a
# literal backslash-n anywhere in the message, and add an empty line at
# the end; with --no-data-fixup it sends these bytes as they are.
pf__wire() {
	python3 - "$1" "$2" <<'EOF'
import re, sys
data = open(sys.argv[1], "rb").read()
data = re.sub(rb"\r?\n", b"\r\n", data)
if data and not data.endswith(b"\r\n"):
    data += b"\r\n"
lines = [b"." + l if l.startswith(b".") else l for l in data.split(b"\r\n")]
open(sys.argv[2], "wb").write(b"\r\n".join(lines) + b".")
EOF
}

# pf_send_smtp FROM TO FILE - send FILE through smtpd (smtpd_milters)
pf_send_smtp() {
	local n wire log
	[ "$PF_STARTED" = 1 ] || { pf__err "pf_send_smtp: not started"; return 1; }
	n=$(find "$PF_DIR" -maxdepth 1 -name 'swaks.*.log' | wc -l)
	wire=$PF_DIR/swaks.$n.data log=$PF_DIR/swaks.$n.log
	pf__wire "$3" "$wire" || return 1
	if ! timeout "$PF_SEND_TIMEOUT" swaks --server "127.0.0.1:$PF_SMTP_PORT" \
	    --helo client.test --from "$1" --to "$2" --data "@$wire" \
	    --no-data-fixup --timeout 30 >"$log" 2>&1; then
		pf__err "swaks $3 failed (transcript $log):"
		grep -E '^ *(<~?|\*\*\*)' "$log" | tail -n 8 >&2
		pf__show_maillog
		return 1
	fi
}

# pf_send_sendmail FROM TO FILE - send FILE through sendmail/pickup
# (the non-SMTP path: non_smtpd_milters)
pf_send_sendmail() {
	[ "$PF_STARTED" = 1 ] || { pf__err "pf_send_sendmail: not started"; return 1; }
	if ! timeout "$PF_SEND_TIMEOUT" sendmail -C "$PF_CONF" -i -f "$1" -- "$2" \
	    <"$3" >"$PF_DIR/sendmail.log" 2>&1; then
		pf__err "sendmail $3 failed:"
		cat "$PF_DIR/sendmail.log" >&2
		pf__show_maillog
		return 1
	fi
}

# pf__queue_count - messages still in the instance's queue
pf__queue_count() {
	find "$PF_DIR/queue/maildrop" "$PF_DIR/queue/incoming" \
	    "$PF_DIR/queue/active" "$PF_DIR/queue/deferred" \
	    "$PF_DIR/queue/hold" -type f 2>/dev/null | wc -l
}

# pf_wait_delivered N SECONDS - wait until N messages are in out/
#
# smtp-sink creates a file at MAIL FROM and closes it before it answers
# the final "."; Postfix removes the queue file only after that answer.
# So N files and an empty queue mean N complete files.
pf_wait_delivered() {
	local want="$1" limit="${2:-30}" start now got queued
	start=$(date +%s)
	while :; do
		got=$(find "$PF_DIR/out" -type f | wc -l)
		queued=$(pf__queue_count)
		if [ "$got" -ge "$want" ] && [ "$queued" -eq 0 ]; then
			return 0
		fi
		now=$(date +%s)
		if [ $((now - start)) -ge "$limit" ]; then
			break
		fi
		sleep 0.1
	done
	pf__err "after ${limit}s: $got of $want messages delivered," \
	    "$queued still queued"
	postqueue -c "$PF_CONF" -p >&2 2>&1 || :
	pf__show_maillog
	return 1
}

# pf_delivered_clean FILE OUT - the message as Postfix sent it, CRLF
#
# smtp-sink stores LF lines (it drops every CR), puts its own X-Client-*,
# X-Helo-Args, X-Mail-Args, X-Rcpt-Args lines and a three-line Received
# field in front, undoes the dot-stuffing, and ends with one extra empty
# line (the LF of the final ".").  All of that is taken off again.
pf_delivered_clean() {
	python3 - "$1" "$2" <<'EOF'
import re, sys
data = open(sys.argv[1], "rb").read()
lines = data.split(b"\n")
i = 0
while i < len(lines) and re.match(
        rb"X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): ",
        lines[i]):
    i += 1
if not (i + 2 < len(lines) and lines[i].startswith(b"Received: from ")
        and b"(smtp-sink)" in lines[i + 1]):
    sys.exit("%s: no smtp-sink Received field after its X- lines"
             % sys.argv[1])
i += 1
while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
    i += 1
rest = b"\n".join(lines[i:])
if not rest.endswith(b"\n\n"):
    sys.exit("%s: truncated (no final empty line)" % sys.argv[1])
rest = rest[:-1]
open(sys.argv[2], "wb").write(rest.replace(b"\n", b"\r\n"))
EOF
}

# pf__wait_gone PID SECONDS - wait for a process to exit
pf__wait_gone() {
	local n=0
	while kill -0 "$1" 2>/dev/null; do
		[ "$n" -ge $(($2 * 10)) ] && return 1
		sleep 0.1
		n=$((n + 1))
	done
}

# pf__postfix_stop - stop this instance's master and wait until it is gone
pf__postfix_stop() {
	local pid
	[ "$PF_STARTED" = 1 ] || return 0
	pid=$(cat "$PF_DIR/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
	timeout 20 postfix -c "$PF_CONF" stop >/dev/null 2>&1 || :
	if [ -n "$pid" ] && ! pf__wait_gone "$pid" 10; then
		pf__err "master $pid still running: postfix abort"
		timeout 20 postfix -c "$PF_CONF" abort >/dev/null 2>&1 || :
		pf__wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || :
	fi
	PF_STARTED=0
}

# pf_stop - stop Postfix and smtp-sink; safe to call twice or from a trap
pf_stop() {
	pf__postfix_stop
	if [ -n "$PF_SINK_PID" ]; then
		kill "$PF_SINK_PID" 2>/dev/null || :
		wait "$PF_SINK_PID" 2>/dev/null || :
		PF_SINK_PID=
	fi
	return 0
}
