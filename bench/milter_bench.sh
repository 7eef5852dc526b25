#!/bin/sh
# milter_bench.sh - how many messages per second a milter signs under one
# fixed load, the same for every milter: 2 connections, each sending
# small messages (7 header fields, a 1 KiB body) back to back.  The load
# comes from bench/milter_load.c, which speaks the milter protocol the way
# Postfix does (see its header comment).
#
#   bench/milter_bench.sh SOCKET SECONDS [KEYTABLE]
#       a milter that is already running: unix:/PATH, /PATH or
#       inet:HOST:PORT
#   bench/milter_bench.sh opendkim SECONDS
#       the baseline: a throw-away OpenDKIM (RSA-2048 key file,
#       Canonicalization relaxed/relaxed) that this script starts and stops
#
# TRIALS runs (default 3) each measure SECONDS after a 1 s warm-up; every
# trial is shown on stderr, and the median on stdout:
#   messages/s: X
# A message counts only when the milter added a DKIM-Signature to it.  The
# last message signed in each trial is also written out and checked with
# both independent verifiers (tests/xverify): always for OpenDKIM, whose
# key this script made, and for SOCKET when a KEYTABLE ("<selector>.
# _domainkey.<domain> <TXT text>" lines) is given.
#
# Exit status: 0 with a number, whatever it is; 1 when something broke (no
# milter, a refused message, a signature that does not verify).
#
# For scripts: with MILTER_BENCH_SOURCED=1, `. bench/milter_bench.sh`
# (from the top of the tree, or with MILTER_BENCH_TOP set to it) only
# defines the functions, so that one run can measure several milters
# under the same load, one trial of each in turn to share the machine's
# drift fairly:
#   milter_rate SOCKET SECONDS [KEYTABLE]   one trial; prints the rate
#   opendkim_start DIR                      sets OPENDKIM_SOCK, _KEYTABLE
#   opendkim_stop
#   median VALUES...
#
# MB_CONNS=N in the environment changes the number of connections (default
# 2, the load the comparison is defined with).
#
# The client and the milter share the machine's CPUs: compare rates from
# the same run, not across machines.  Binary: ${BUILD:-build}/bench/
# milter_load (make build/bench/milter_load).
#
# Security notes: OpenDKIM's key, configuration and socket live in a
# mktemp -d directory removed at the end; its socket is reachable by the
# invoking user only (mode 700 directory).  RequireSafeKeys is off because
# OpenDKIM refuses any key file below a world-writable directory such as
# /tmp, sticky bit or not.
# the source tree: where $0 is, or (sourced by a script elsewhere) the
# current directory, unless MILTER_BENCH_TOP says
mb_top=${MILTER_BENCH_TOP:-$(cd "$(dirname "$0")/.." 2>/dev/null && pwd)}
[ -f "$mb_top/bench/milter_load.c" ] || mb_top=$(pwd)
MILTER_LOAD=${MILTER_LOAD:-$mb_top/${BUILD:-build}/bench/milter_load}
MB_CONNS=${MB_CONNS:-2}		# concurrent connections (the target's load: 2)
MB_BODY=1024		# body bytes per message
MB_WARMUP=1		# seconds before each trial counts
OPENDKIM_PID=
OPENDKIM_SOCK=
OPENDKIM_KEYTABLE=

# mb_die - report and exit 1
mb_die() {
	echo "milter_bench: $*" >&2
	exit 1
}

# median VALUES... - the middle one (the lower middle of an even count)
median() {
	printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}

# mb_field NAME LINE - the value of " NAME=value" in a result line
mb_field() {
	printf '%s\n' "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"
}

# mb_verify KEYTABLE FILE - both independent verifiers pass FILE
mb_verify() {
	"$mb_top/tests/xverify/verify_dkimpy.py" "$1" "$2" >&2 &&
	    "$mb_top/tests/xverify/verify_maildkim.pl" "$1" "$2" >&2
}

# milter_rate SOCKET SECONDS [KEYTABLE] - one trial: messages/s on stdout,
# milter_load's report on stderr; non-zero when a message was refused,
# the connection broke, or (with KEYTABLE) the signature does not verify
milter_rate() {
	local sock="$1" secs="$2" kt="${3:-}" dir rc line rate
	[ -x "$MILTER_LOAD" ] || {
		echo "milter_bench: $MILTER_LOAD missing: make" \
		    "${BUILD:-build}/bench/milter_load" >&2
		return 1
	}
	dir=$(mktemp -d "${TMPDIR:-/tmp}/milter-rate.XXXXXX") || return 1
	"$MILTER_LOAD" -s "$sock" -c "$MB_CONNS" -d "$secs" -w "$MB_WARMUP" \
	    -m "$MB_BODY" -o "$dir/last.eml" >"$dir/load.out" 2>&1
	rc=$?
	sed 's/^/    /' "$dir/load.out" >&2
	line=$(grep '^result:' "$dir/load.out" | tail -n 1)
	rate=$(mb_field msgs_s "$line")
	if [ "$rc" -ne 0 ] || [ -z "$rate" ]; then
		echo "milter_bench: milter_load failed on $sock (exit $rc)" >&2
		rm -rf "$dir"
		return 1
	fi
	if [ -n "$kt" ] && ! mb_verify "$kt" "$dir/last.eml"; then
		echo "milter_bench: a signature from $sock does not verify" \
		    "(kept in $dir)" >&2
		return 1
	fi
	rm -rf "$dir"
	echo "$rate"
}

# opendkim_start DIR - a throw-away OpenDKIM signer listening in DIR
#
# RSA-2048 key file made by opendkim-genkey for mosamuseum.com, selector
# stxsel1; Canonicalization relaxed/relaxed; the load's client address
# (127.0.0.1) is an internal host, so every message is signed.
opendkim_start() {
	local dir="$1" n=0
	command -v opendkim >/dev/null && command -v opendkim-genkey >/dev/null ||
	    { echo "milter_bench: opendkim missing (apt-get install opendkim" \
	    "opendkim-tools)" >&2; return 1; }
	mkdir -p "$dir" && chmod 700 "$dir" || return 1
	opendkim-genkey -b 2048 -d mosamuseum.com -s stxsel1 -D "$dir" ||
	    return 1
	printf 'stxsel1._domainkey.mosamuseum.com v=DKIM1; k=rsa; p=%s\n' \
	    "$(openssl pkey -in "$dir/stxsel1.private" -pubout -outform DER |
	    base64 -w0)" >"$dir/keytable" || return 1
	cat >"$dir/opendkim.conf" <<EOF
Mode			s
Domain			mosamuseum.com
Selector		stxsel1
KeyFile			$dir/stxsel1.private
Socket			local:$dir/opendkim.sock
Canonicalization	relaxed/relaxed
InternalHosts		127.0.0.1
RequireSafeKeys		no
Background		no
Syslog			no
EOF
	[ "$(id -u)" = 0 ] && echo "UserID			root" >>"$dir/opendkim.conf"
	opendkim -f -x "$dir/opendkim.conf" >"$dir/opendkim.log" 2>&1 &
	OPENDKIM_PID=$!
	while [ ! -S "$dir/opendkim.sock" ]; do
		if ! kill -0 "$OPENDKIM_PID" 2>/dev/null || [ "$n" -ge 100 ]; then
			echo "milter_bench: opendkim did not start:" >&2
			cat "$dir/opendkim.log" >&2
			opendkim_stop
			return 1
		fi
		sleep 0.1
		n=$((n + 1))
	done
	OPENDKIM_SOCK=unix:$dir/opendkim.sock
	OPENDKIM_KEYTABLE=$dir/keytable
}

# opendkim_stop - stop the OpenDKIM opendkim_start started, if any
opendkim_stop() {
	if [ -n "$OPENDKIM_PID" ]; then
		kill "$OPENDKIM_PID" 2>/dev/null || :
		wait "$OPENDKIM_PID" 2>/dev/null || :
		OPENDKIM_PID=
	fi
}

# mb_busy - percent of the CPUs other work used over the last second
mb_busy() {
	local a b
	a=$(sed -n 's/^cpu  //p' /proc/stat)
	sleep 1
	b=$(sed -n 's/^cpu  //p' /proc/stat)
	# fields: user nice system idle iowait irq softirq steal ...
	printf '%s\n%s\n' "$a" "$b" | awk '
	{ t[NR] = 0; for (i = 1; i <= 8; i++) t[NR] += $i; idle[NR] = $4 + $5 }
	END {
		d = t[2] - t[1]
		printf "%d", (d > 0 ? 100 * (d - (idle[2] - idle[1])) / d : 0)
	}'
}

# mb_machine - what the numbers were measured on; a warning when other
# work keeps the CPUs busy (the client and the milter need them)
mb_machine() {
	local busy
	busy=$(mb_busy)
	echo "machine: $(nproc) CPU(s), $(sed -n 's/^model name[[:space:]]*: //p' \
	    /proc/cpuinfo | sort -u | head -n 1), $(uname -sr);" \
	    "$(openssl version | cut -d' ' -f1-2); CPUs ${busy}% busy before" \
	    "the run"
	if [ "$busy" -gt 10 ]; then
		echo "warning: other work used ${busy}% of the CPUs just before" \
		    "the run; these numbers will be low and noisy"
	fi
}

# mb_trials NAME SOCKET SECONDS [KEYTABLE] - TRIALS trials on stderr,
# their median on stdout
mb_trials() {
	local name="$1" sock="$2" secs="$3" kt="${4:-}" i=1 r rates=
	{
		echo "milter_bench: $name ($sock): $MB_CONNS connections," \
		    "$MB_BODY-byte bodies, ${TRIALS:-3} trial(s) of $secs s" \
		    "after $MB_WARMUP s warm-up"
		mb_machine
	} >&2
	while [ "$i" -le "${TRIALS:-3}" ]; do
		r=$(milter_rate "$sock" "$secs" "$kt") || return 1
		echo "trial $i: $r messages/s${kt:+ (last signature verified)}" >&2
		rates="$rates $r"
		i=$((i + 1))
	done
	# shellcheck disable=SC2086 # word splitting wanted
	echo "messages/s: $(median $rates)"
}

# mb_main ARGS - the command line
mb_main() {
	[ $# -ge 2 ] && [ $# -le 3 ] ||
	    mb_die "usage: milter_bench.sh SOCKET|opendkim SECONDS [KEYTABLE]"
	case $2 in '' | *[!0-9.]*) mb_die "SECONDS: a number, not '$2'" ;; esac
	case ${TRIALS:-3} in '' | 0 | *[!0-9]*) mb_die "TRIALS: a count" ;; esac
	if [ "$1" != opendkim ]; then
		mb_trials milter "$1" "$2" "${3:-}" || exit 1
		return
	fi
	[ $# -eq 2 ] || mb_die "opendkim makes its own key: no KEYTABLE"
	mb_tmp=$(mktemp -d "${TMPDIR:-/tmp}/milter-bench.XXXXXX") || exit 1
	trap 'opendkim_stop; rm -rf "$mb_tmp"' EXIT
	trap 'exit 1' HUP INT TERM
	opendkim_start "$mb_tmp/opendkim" || exit 1
	echo "opendkim: $(opendkim -V | head -n 1), RSA-2048 key file," \
	    "relaxed/relaxed" >&2
	mb_trials opendkim "$OPENDKIM_SOCK" "$2" "$OPENDKIM_KEYTABLE" || exit 1
}

if [ "${MILTER_BENCH_SOURCED:-0}" != 1 ]; then
	set -u
	mb_main "$@"
fi
