#!/usr/bin/python3
"""security_test.py - p11dkimd and p11dkim-keys against hostile local peers
and hostile input, on SoftHSM2 tokens.

Checks: the socket files get their mode and owner without a chmod or chown
that follows a path (strace); one peer uid that trickles bytes on more
connections than it may hold (max-connections-per-uid) leaves workers to
others, its requests cut at request-timeout; STATS only for the uids and
gids allowed; an OPTION domain= that replaces a longer
one; text a client chose reaches the log escaped, one line; a header field
name with ';' is never put in h= (dkimpy verifies); p11dkim-keys runs
without core dumps while it holds PINs.

Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
Last line: "security-test: N passed, M failed".
"""
import json
import os
import platform
import re
import resource
import signal
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11env import *  # noqa: E402,F401,F403

NOBODY = 65534
MSG = (b"From: Tickets <tickets@mosamuseum.com>\r\nTo: a@example.org\r\n"
       b"Subject: test\r\nMessage-ID: <s1@mosamuseum.com>\r\n\r\nHello.\r\n")
# Both sockets owned by nobody, mode 0666 (the test's umask is 077).
OWNED = '\towner = "%d"\n\tgroup = "%d"\n' % (NOBODY, NOBODY)


# Few workers, a short deadline: a peer may hold 2 of the 4 workers.
LIMITS = ('request-timeout = 4\nstats-allow-uids = { "65532" }\n'
          'stats-allow-gids = { "65530" }\n')


def configure():
    write_conf(milter=OWNED, listen_extra=OWNED, workers=4, top=LIMITS, per_uid=False)


def as_peer(request, uid=NOBODY, gid=NOBODY):
    """Send request bytes from another uid; its first reply line."""
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX);s.settimeout(20);s.connect(%r)\n"
            "s.sendall(sys.stdin.buffer.read())\n"
            "sys.stdout.buffer.write(s.makefile('rb').readline())\n") % SOCK
    r = subprocess.run(["/usr/bin/python3", "-c", code], input=request, capture_output=True, timeout=60,
                       preexec_fn=lambda: (os.setgroups([]), os.setgid(gid), os.setuid(uid)))
    return (r.stdout or r.stderr).decode(errors="replace").rstrip("\n")


def request(msg, *options):
    return (b"SIGN\n" + b"".join(b"OPTION %s\n" % o for o in options) +
            b"DATA %d\n" % len(msg) + msg + b"END\n")


def sign_raw(req):
    """Send request bytes as this uid: (status line, payload)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(SOCK)
    try:
        s.sendall(req)
    except OSError:
        pass            # refused at once: the reply is read all the same
    f = s.makefile("rb")
    status = f.readline().decode(errors="replace").rstrip("\n")
    payload = f.read(int(status[3:])) if status.startswith("OK ") else b""
    s.close()
    return status, payload


def verifies(signed, table):
    """dkimpy's verdict; a signature it cannot even parse is a failure."""
    try:
        return dkimpy_ok(signed, table)
    except Exception as e:  # noqa: BLE001 - dkimpy raises many kinds
        print("dkimpy: %s" % e)
        return False


def socket_files(trace):
    """Under strace: no chmod or chown that follows a path reaches a socket."""
    r = subprocess.run(["strace", "-V"], capture_output=True)
    check("strace is installed", r.returncode == 0)
    st = subprocess.Popen(["strace", "-f", "-qq", "-o", trace, "-e",
                           "trace=chmod,fchmodat,chown,fchownat,lchown,fchown",
                           os.path.join(BUILD, "p11dkimd"), "-f", "-c", CONF],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(T, "daemon.log"), "ab"))
    try:
        for _ in range(1200):
            if Daemon.answers() and os.path.exists(MILTER) or st.poll() is not None:
                break
            time.sleep(0.05)
        check("p11dkimd starts under strace", st.poll() is None)
        for path, what in ((SOCK, "native"), (MILTER, "milter")):
            try:
                s = os.lstat(path)
            except OSError as e:
                check("%s socket exists" % what, False, e)
                continue
            check("%s socket: a socket, mode 0666, owner and group %d" % (what, NOBODY),
                  stat.S_ISSOCK(s.st_mode) and stat.S_IMODE(s.st_mode) == 0o666
                  and s.st_uid == NOBODY and s.st_gid == NOBODY,
                  "mode %o uid %d gid %d" % (s.st_mode, s.st_uid, s.st_gid))
    finally:
        kids = subprocess.run(["pgrep", "-P", str(st.pid)], capture_output=True, text=True).stdout.split()
        for pid in kids:
            os.kill(int(pid), signal.SIGTERM)
        try:
            st.wait(timeout=60)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait()
    text = open(trace).read()
    calls = [ln for ln in text.splitlines() if SOCK in ln or MILTER in ln]
    following = [ln for ln in calls if re.search(r"\b(chmod|chown|fchmodat)\(", ln)
                 or ("fchownat(" in ln and "AT_SYMLINK_NOFOLLOW" not in ln)]
    check("no chmod or chown that follows a path names a socket", not following, following[:4])
    check("the owner is set without following a link",
          any(re.search(r"\b(lchown|fchownat)\(", ln) for ln in calls if SOCK in ln)
          and any(re.search(r"\b(lchown|fchownat)\(", ln) for ln in calls if MILTER in ln), calls[:6])


# A slow peer: opens n connections, starts a request on each and sends
# one more message byte a second on each while it has no reply, for at
# most `limit` seconds.  Prints "ready" once the prompt replies are in,
# then per connection [seconds to its reply, the reply, closed after it].
SLOW_PEER = r"""
import json, select, socket, sys, time
path, n, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.time()
conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    try:
        s.sendall(b"SIGN\nDATA 1000\n")
    except OSError:
        pass                        # refused already: its reply is there
    conns.append(s)
out = [None] * n


def reply(i):
    s = conns[i]
    s.settimeout(2)
    f = s.makefile("rb")
    line = f.readline().decode(errors="replace").rstrip("\n")
    try:
        closed = f.read(1) == b""
    except ConnectionResetError:    # closed with our request bytes unread
        closed = True
    except OSError:
        closed = False
    out[i] = [round(time.time() - t0, 2), line, closed]


def wait(until):
    while None in out and time.time() < until:
        pending = [s for i, s in enumerate(conns) if out[i] is None]
        for s in select.select(pending, [], [], until - time.time())[0]:
            reply(conns.index(s))


wait(t0 + 0.5)
print("ready", flush=True)
tick = time.time()
while time.time() - t0 < limit and None in out:
    for i, s in enumerate(conns):
        try:
            if out[i] is None:
                s.send(b"x")
        except OSError as e:
            out[i] = [round(time.time() - t0, 2), "send: %s" % e, True]
    tick += 1
    wait(tick)
print(json.dumps(out), flush=True)
"""


def slow_peer():
    """One uid trickles on more connections than it may hold."""
    p = subprocess.Popen(["/usr/bin/python3", "-c", SLOW_PEER, SOCK, "4", "12"], stdout=subprocess.PIPE,
                         text=True, preexec_fn=lambda: (os.setgroups([]), os.setgid(NOBODY), os.setuid(NOBODY)))
    check("the slow peer is connected", p.stdout.readline() == "ready\n")
    status, _ = sign_raw(request(MSG))
    check("while uid %d trickles on its connections, uid 0 is signed" % NOBODY, status.startswith("OK "), status)
    out = json.loads(p.stdout.readline() or "[]")
    p.wait(timeout=30)
    want = "TEMPFAIL too many connections from uid %d (max-connections-per-uid 2); retry later" % NOBODY
    refused = [o for o in out if o and o[1] == want]
    check("2 connections over the cap: a prompt TEMPFAIL saying why, then closed",
          len(refused) == 2 and all(o[0] < 1 and o[2] for o in refused), out)
    want = "TEMPFAIL request not complete within request-timeout (4 s); retry later"
    cut = [o for o in out if o and o[1] == want]
    check("the trickling requests end at request-timeout, closed",
          len(cut) == 2 and all(3.5 < o[0] < 7 and o[2] for o in cut), out)
    status, body = sign_raw(b"STATS\n")
    check("STATS counts the connections over the cap",
          b'p11dkim_uid_limit_total{front="native"} 2\n' in body, body[-400:])
    check("the cut requests are logged", "reason=request not complete within request-timeout" in log_text())


def stats_access():
    status, _ = sign_raw(b"STATS\n")
    check("STATS for uid 0", status.startswith("OK "), status)
    reply = as_peer(b"STATS\n")
    check("STATS refused to a uid not listed",
          reply == "PERMFAIL not authorized: uid %d may not read STATS" % NOBODY, reply)
    reply = as_peer(b"STATS\n", uid=65532, gid=65532)
    check("STATS for a uid in stats-allow-uids", reply.startswith("OK "), reply)
    reply = as_peer(b"STATS\n", uid=65531, gid=65530)
    check("STATS for a gid in stats-allow-gids", reply.startswith("OK "), reply)


def option_domain(table):
    status, field = sign_raw(request(MSG, b"domain=mosamuseum.comzzzz", b"domain=MosaMuseum.com"))
    check("a shorter OPTION domain= replaces a longer one", status.startswith("OK ")
          and verifies(field + MSG, table), status)
    status, _ = sign_raw(request(MSG, b"domain=venue.example.org", b"domain=a.example"))
    check("the reply names the second domain alone",
          status == "PERMFAIL domain a.example is not signed here", status)


def log_escapes():
    forged = b"evil\x1b[31m\rforged.example\x7f"
    reply = as_peer(request(MSG, b"domain=" + forged))
    check("an unknown domain with control bytes: PERMFAIL", reply.startswith("PERMFAIL domain evil"), reply)
    time.sleep(0.3)
    log = open(os.path.join(T, "daemon.log"), "rb").read()
    check("the log shows the control bytes escaped",
          b"domain evil\\x1b[31m\\x0dforged.example\\x7f is not signed here" in log,
          [ln for ln in log.splitlines() if b"evil" in ln][:2])
    check("no ESC, CR or DEL reaches the log", not re.search(rb"[\x1b\r\x7f]", log))


def semicolon_names(table):
    msg = MSG.replace(b"Subject: test\r\n", b"Subject: test\r\nList-x;l=0;zz=: foo\r\n"
                      b"List-Id: <news.mosamuseum.com>\r\n")
    status, field = sign_raw(request(msg))
    flat = field.replace(b"\r\n\t", b"").replace(b" ", b"")
    h = re.search(rb";h=([^;]*);", flat)
    check("a field name with ';' signs", status.startswith("OK ") and h, status)
    check("it is left out of h=, List-Id is in", h and b"list-x" not in h.group(1)
          and b"list-id" in h.group(1), h and h.group(1))
    check("dkimpy verifies the signature", status.startswith("OK ") and verifies(field + msg, table))


SYS_READ = {"x86_64": 0, "aarch64": 63, "riscv64": 63, "i686": 3, "armv7l": 3}


def keys_core_limit():
    """p11dkim-keys waiting for a PIN on a pipe: core dumps are off."""
    rd, wr = os.pipe()

    def limits():
        resource.setrlimit(resource.RLIMIT_CORE, (1 << 20, resource.RLIM_INFINITY))
    p = subprocess.Popen([os.path.join(BUILD, "p11dkim-keys"), "-c", CONF, "--operator", "test",
                          "init-token", "mosa", "--so-pin", "fd:%d" % rd, "--pin", "fd:%d" % rd],
                         pass_fds=(rd,), preexec_fn=limits, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(rd)
    want = "%d 0x%x " % (SYS_READ.get(platform.machine(), -1), rd)
    waiting = False
    for _ in range(200):
        try:
            waiting = open("/proc/%d/syscall" % p.pid).read().startswith(want)
        except OSError:
            break
        if waiting:
            break
        time.sleep(0.05)
    check("p11dkim-keys waits for the SO PIN on fd %d" % rd, waiting)
    core = ""
    try:
        core = [ln for ln in open("/proc/%d/limits" % p.pid) if ln.startswith("Max core file size")][0]
    except (OSError, IndexError):
        pass
    check("p11dkim-keys: core file size 0, soft and hard", core.split()[4:6] == ["0", "0"], core.strip())
    os.close(wr)
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
    check("p11dkim-keys ends on an empty PIN pipe", p.returncode not in (None, 0), p.returncode)


def main():
    table, _ = setup()
    configure()
    socket_files(os.path.join(T, "strace.txt"))
    d = Daemon(milter=True)
    try:
        slow_peer()
        stats_access()
        option_domain(table)
        log_escapes()
        semicolon_names(table)
    finally:
        if d.p.poll() is None:
            d.stop()
    keys_core_limit()
    sys.exit(summary("security-test"))


if __name__ == "__main__":
    main()
