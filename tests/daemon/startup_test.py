"""startup_test.py - how p11dkimd starts: users kept apart, readiness.

- Privilege separation: started by root, p11dkimd refuses (exit 78) a
  configuration whose fronts would run as root or as the signer's user,
  at start, with -n and on reload; require-separate-users = false starts
  anyway with a warning; with user set, the fronts run as that user.
- Readiness: with NOTIFY_SOCKET set (systemd's Type=notify), the parent
  sends READY=1 once the daemon serves.
- pidfile: the parent's pid, written at start (with -f and in the
  background), gone after SIGTERM; a second p11dkimd with the same
  pidfile refuses (exit 69) and says which pid holds it; a stale file is
  replaced.
- Process titles: the parent, the signer, the native front and the
  milter front each say which they are in /proc/PID/comm and in ps.
- Socket files: gone after a start that fails (the signer refuses its
  key table; a second listener cannot be bound), never another running
  daemon's; the milter's gone at stop, after a reload too.
- log = "syslog" with nothing on /dev/log (a mount namespace with a /dev
  of its own): p11dkimd -f says so once on stderr and logs there, a start
  that fails included; with a syslog socket there, nothing falls back.

Run through tests/integration/run.sh, as root.  Last line:
"startup-test: N passed, M failed".
"""
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import p11env  # noqa: E402
from p11env import BUILD, CONF, T, check, log_text, sign, wire  # noqa: E402

P11DKIMD = os.path.join(BUILD, "p11dkimd")
NOBODY = pwd.getpwnam("nobody").pw_uid
MSG = wire(b"From: a@mosamuseum.com\nTo: b@example.org\nSubject: hi\n\nbody\n")


def try_sign():
    try:
        return sign(MSG)[0]
    except OSError as e:
        return "no reply: %s" % e


def start(env=None):
    log = open(os.path.join(T, "daemon.log"), "ab")
    return subprocess.Popen([P11DKIMD, "-f", "-c", CONF], stdout=log, stderr=log,
                            env=env)


def wait_serving(p):
    for _ in range(1200):
        if p.poll() is not None:
            return False
        if p11env.Daemon.answers():
            return True
        time.sleep(0.05)
    return False


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    return p.wait(timeout=60)


def refused(users, what):
    """A start and -n with these top-level lines exit 78 and say why."""
    p11env.write_conf(users=users)
    r = subprocess.run([P11DKIMD, "-n", "-c", CONF], capture_output=True, text=True)
    check("-n refuses %s" % what, r.returncode == 78 and what in r.stderr, r.stderr)
    err = os.path.join(T, "refused.err")
    with open(err, "w") as f:
        p = subprocess.Popen([P11DKIMD, "-f", "-c", CONF], stdout=f, stderr=f)
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = "still running after 20 s: %d" % stop(p)
    text = open(err).read()
    check("a start refuses %s (exit 78)" % what,
          rc == 78 and what in text and "require-separate-users" in text, (rc, text))
    check("nothing was bound", not os.path.exists(p11env.SOCK))


def uids_of_children(p):
    out = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
    uids = []
    for pid in out.stdout.split():
        try:
            for line in open("/proc/%s/status" % pid):
                if line.startswith("Uid:"):
                    uids.append(int(line.split()[1]))
        except OSError:
            pass
    return sorted(uids)


def separation():
    refused("", "would run as root")
    refused('user = "root"', "would run as root")
    refused('user = "nobody"\nsigner-user = "nobody"', "are the same user")

    p11env.write_conf(users="require-separate-users = false")
    p = start()
    check("require-separate-users = false: starts", wait_serving(p))
    check("... and warns that privilege separation is off",
          "warning: privilege separation is off" in log_text(), log_text()[-500:])
    check("... stops with 0", stop(p) == 0)

    mark = len(log_text())
    p11env.write_conf(users='user = "nobody"')
    p = start()
    check("user = nobody, signer root: starts", wait_serving(p))
    check("... without a warning", "privilege separation is off" not in log_text()[mark:])
    check("the front runs as nobody, the signer as root",
          uids_of_children(p) == [0, NOBODY], uids_of_children(p))
    status = try_sign()
    check("... and signs", status.startswith("OK"), status)
    p11env.write_conf(users="")
    p.send_signal(signal.SIGHUP)
    time.sleep(2)
    check("a reload to fronts as root is refused",
          "reload refused" in log_text()[mark:] and "would run as root" in log_text()[mark:],
          log_text()[mark:][-800:])
    status = try_sign()
    check("... the running configuration goes on signing", status.startswith("OK"), status)
    check("... its front still runs as nobody", NOBODY in uids_of_children(p))
    check("... stops with 0", stop(p) == 0)


def readiness():
    path = os.path.join(T, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(120)
    p11env.write_conf()
    env = dict(os.environ, NOTIFY_SOCKET=path)
    p = start(env)
    try:
        msg = s.recv(4096).decode()
    except socket.timeout:
        msg = ""
    check("sd_notify: READY=1 sent to NOTIFY_SOCKET", "READY=1" in msg.split("\n"), msg)
    check("... once the daemon serves", p11env.Daemon.answers())
    check("... stops with 0", stop(p) == 0)
    s.close()


TITLES = {"p11dkimd": "p11dkimd: parent", "p11dkimd-signer": "p11dkimd: signer",
          "p11dkimd-front": "p11dkimd: front (native)", "p11dkimd-milter": "p11dkimd: front (milter)"}


def comm_and_args(pid):
    comm = open("/proc/%d/comm" % pid).read().strip()
    args = open("/proc/%d/cmdline" % pid, "rb").read().rstrip(b"\0").decode()
    return comm, args


def process_titles():
    p11env.write_conf(milter="\tinternal-hosts = { \"127.0.0.1\" }\n")
    d = p11env.Daemon(milter=True)
    try:
        kids = d.children()
        seen = {pid: comm_and_args(pid) for pid in [d.p.pid] + kids}
        check("titles: the parent is p11dkimd, 'p11dkimd: parent'",
              seen[d.p.pid] == ("p11dkimd", "p11dkimd: parent"), seen[d.p.pid])
        check("titles: one signer, one native front, one milter front, each named",
              sorted(seen[k][0] for k in kids) == ["p11dkimd-front", "p11dkimd-milter", "p11dkimd-signer"],
              seen)
        check("titles: each child's command line says which it is",
              all(seen[k][1] == TITLES.get(seen[k][0]) for k in kids), seen)
        signer = [k for k in kids if "libsofthsm2" in open("/proc/%d/maps" % k).read()]
        check("titles: p11dkimd-signer is the process with the module",
              [seen[k][0] for k in signer] == ["p11dkimd-signer"], signer)
        milter = [k for k in kids if seen[k][0] == "p11dkimd-milter"]
        socks = [os.readlink("/proc/%d/fd/%s" % (k, fd)) for k in milter[:1] for fd in os.listdir("/proc/%d/fd" % k)]
        inodes = open("/proc/net/unix").read()
        check("titles: p11dkimd-milter is the process on the milter socket",
              any(l.endswith(p11env.MILTER) and ("socket:[%s]" % l.split()[6]) in socks
                  for l in inodes.splitlines()[1:] if len(l.split()) > 7), socks)
        ps = subprocess.run(["ps", "-o", "comm=,args=", "-p", ",".join(map(str, [d.p.pid] + kids))],
                            capture_output=True, text=True).stdout
        check("titles: ps shows them", all(re.search(r"^%s +%s$" % (re.escape(c), re.escape(t)), ps, re.M)
                                           for c, t in TITLES.items()), ps)
        before = log_text().count("configuration reloaded")
        d.p.send_signal(signal.SIGHUP)
        check("titles: a reload reads the file again (-c was kept)",
              wait_log("configuration reloaded", before + 1), log_text()[-400:])
        check("... stops with 0", d.stop() == 0)
        check("sockets: the milter's and the native one are gone at stop",
              not os.path.exists(p11env.MILTER) and not os.path.exists(p11env.SOCK),
              (os.path.exists(p11env.MILTER), os.path.exists(p11env.SOCK)))
    finally:
        if d.p.poll() is None:
            d.p.kill()
    p11env.write_conf()


def failed_start(desc):
    """p11dkimd -f with the current file: exit 69; its stderr."""
    err = os.path.join(T, "failed.err")
    with open(err, "w") as f:
        try:
            rc = subprocess.run([P11DKIMD, "-f", "-c", CONF], stdout=f, stderr=f, timeout=120).returncode
        except subprocess.TimeoutExpired:
            rc = "timed out"
    text = open(err).read()
    check("%s: the start fails (69)" % desc, rc == 69 and "not started" in text, (rc, text[-600:]))
    return text


def sockets_removed():
    pin = os.path.join(T, "mosa.pin")
    good = open(pin).read()
    p11env.write_conf(top="strict-start = true\n")
    with open(pin, "w") as f:
        f.write("wrong-pin-00000000\n")
    text = failed_start("strict-start and a wrong PIN")
    with open(pin, "w") as f:
        f.write(good)
    check("... says why", "CKR_PIN_INCORRECT" in text, text[-400:])
    check("... and leaves no socket file behind", not os.path.exists(p11env.SOCK))
    p11env.write_conf()
    with open(CONF, "a") as f:
        f.write('listen "%s/no/such/dir/second.sock" {\n}\n' % T)
    failed_start("a second listener that cannot be bound")
    check("... the first one bound is removed", not os.path.exists(p11env.SOCK))
    p11env.write_conf()
    p = start()
    check("sockets: a daemon serves", wait_serving(p))
    text = failed_start("a second daemon on the same socket")
    check("... says a daemon answers there", p11env.SOCK in text, text[-400:])
    check("... and leaves the running one's socket alone", os.path.exists(p11env.SOCK) and
          try_sign().startswith("OK"))
    check("... which stops with 0, removing it", stop(p) == 0 and not os.path.exists(p11env.SOCK))


def wait_log(text, count, seconds=30):
    """Until text is in the log count times."""
    for _ in range(seconds * 10):
        if log_text().count(text) >= count:
            return True
        time.sleep(0.1)
    return False


def pid_conf(pidfile):
    p11env.write_conf(top='pidfile = "%s"\n' % pidfile)


def gone(path, seconds=20):
    for _ in range(seconds * 20):
        if not os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def pidfile_cases():
    pidfile = os.path.join(T, "run", "p11dkimd.pid")
    os.makedirs(os.path.dirname(pidfile), exist_ok=True)
    pid_conf(pidfile)
    p = start()
    check("pidfile: the daemon serves", wait_serving(p))
    text = open(pidfile).read() if os.path.exists(pidfile) else ""
    check("pidfile: holds the parent's pid", text == "%d\n" % p.pid, (text, p.pid))
    err = os.path.join(T, "second.err")
    with open(err, "w") as f:
        r = subprocess.run([P11DKIMD, "-f", "-c", CONF], stdout=f, stderr=f, timeout=60)
    said = open(err).read()
    check("pidfile: a second p11dkimd refuses (69) and names the running one",
          r.returncode == 69 and "another p11dkimd (pid %d) runs with it" % p.pid in said, (r.returncode, said))
    check("... the first one's pidfile is untouched", open(pidfile).read() == "%d\n" % p.pid)
    check("... and it still serves", try_sign().startswith("OK"))
    check("pidfile: SIGTERM stops with 0", stop(p) == 0)
    check("... and the pidfile is gone", not os.path.exists(pidfile))
    check("... with no temporary file left", os.listdir(os.path.dirname(pidfile)) == [],
          os.listdir(os.path.dirname(pidfile)))
    # A stale file (a pid that is no p11dkimd: ours) is replaced.
    with open(pidfile, "w") as f:
        f.write("%d\n" % os.getpid())
    p = start()
    check("pidfile: a stale one does not stop a start", wait_serving(p))
    check("... it is replaced with the parent's pid", open(pidfile).read() == "%d\n" % p.pid)
    check("... logged", "replacing a stale one (pid %d)" % os.getpid() in log_text())
    check("... stops with 0, removing it", stop(p) == 0 and not os.path.exists(pidfile))
    # In the background: the daemon's pid, not the starting command's.
    r = subprocess.run([P11DKIMD, "-c", CONF], stdout=subprocess.DEVNULL,
                       stderr=open(os.path.join(T, "daemon.log"), "ab"), timeout=120)
    text = open(pidfile).read() if os.path.exists(pidfile) else "0"
    pid = int(text)
    comm = open("/proc/%d/comm" % pid).read().strip() if pid and os.path.exists("/proc/%d" % pid) else ""
    check("pidfile in the background: the daemon's pid, a running p11dkimd",
          r.returncode == 0 and comm == "p11dkimd" and p11env.Daemon.answers(), (r.returncode, text, comm))
    if pid:
        os.kill(pid, signal.SIGTERM)
    check("... gone after SIGTERM", gone(pidfile))
    p11env.write_conf()


# A /dev of its own in a private mount namespace: the devices the daemon
# and SoftHSM2 use, bound from the real /dev, and /dev/log only when $1
# names a socket for it.  Then the command ($2...).
PRIVATE_DEV = r"""
set -e
mount --make-rprivate /
d=$P11DKIM_TEST_DIR/dev
mkdir -p "$d"
mount -t tmpfs tmpfs "$d"
for n in null zero random urandom; do
    : >"$d/$n"
    mount --bind "/dev/$n" "$d/$n"
done
[ -z "$1" ] || ln -s "$1" "$d/log"
mount --rbind "$d" /dev
shift
exec "$@"
"""


def start_private_dev(log_sock, errfile):
    """p11dkimd -f with log = "syslog" in its own /dev; stderr to errfile."""
    text = open(CONF).read().replace('log = "stderr"', 'log = "syslog"')
    with open(CONF, "w") as f:
        f.write(text)
    with open(errfile, "w") as f:
        return subprocess.Popen(["unshare", "-m", "sh", "-c", PRIVATE_DEV, "sh", log_sock or "",
                                 P11DKIMD, "-f", "-c", CONF], stdout=f, stderr=f)


FALLBACK = "warning: syslog: cannot reach /dev/log"


def syslog_fallback():
    err = os.path.join(T, "nosyslog.err")
    p11env.write_conf()
    p = start_private_dev(None, err)
    check("no syslog socket: p11dkimd -f starts and serves", wait_serving(p), open(err).read()[-500:])
    check("... stops with 0", stop(p) == 0)
    text = open(err).read()
    check("... said once on stderr that it logs there instead",
          text.count(FALLBACK) == 1 and "logging to standard error instead" in text, text[-800:])
    check("... and logged there: started, stopped", "started:" in text and "]: stopped" in text, text[-800:])
    p11env.write_conf()
    text = open(CONF).read().replace('listen "%s"' % p11env.SOCK, 'listen "%s/no/such/dir/s.sock"' % T)
    with open(CONF, "w") as f:
        f.write(text)
    p = start_private_dev(None, err)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rc = "still running: %d" % stop(p)
    text = open(err).read()
    check("no syslog socket and a start that fails: exit 69, and why on stderr",
          rc == 69 and FALLBACK in text and "no/such/dir" in text and "not started" in text, (rc, text[-800:]))
    # A syslog socket there: the lines go to it, nothing falls back.
    path = os.path.join(T, "syslog.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(60)
    p11env.write_conf()
    p = start_private_dev(path, err)
    got = ""
    try:
        while "started:" not in got:
            got += s.recv(65536).decode(errors="replace") + "\n"
    except socket.timeout:
        pass
    check("a syslog socket: the lines reach it (mail facility, ident p11dkimd)",
          re.search(r"<22>.*p11dkimd\[\d+\]: started:", got), got[-500:])
    check("... stops with 0", stop(p) == 0)
    check("... and nothing fell back to stderr", FALLBACK not in open(err).read(), open(err).read()[-500:])
    s.close()


def main():
    if os.getuid() != 0:
        print("startup-test: must run as root")
        return 1
    p11env.setup()
    separation()
    readiness()
    pidfile_cases()
    process_titles()
    sockets_removed()
    syslog_fallback()
    return p11env.summary("startup-test")


if __name__ == "__main__":
    sys.exit(main())
