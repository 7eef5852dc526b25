"""p11env.py - what the daemon and milter tests share: a throw-away token
store with three institutions set up by p11dkim-keys (mosa: RSA-2048,
venue: Ed25519, gala: dual-signing), the configuration, a running
p11dkimd, a protocol client, and independent verification with dkimpy.

Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
"""
import os
import re
import signal
import socket
import subprocess
import time

import dkim

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(TOP, os.environ.get("BUILD", "build"))
T = os.environ["P11DKIM_TEST_DIR"]
MOD = os.environ.get("P11DKIM_TEST_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
SOCK = os.path.join(T, "p11dkimd.sock")
CONF = os.path.join(T, "p11dkim.conf")
# Under AddressSanitizer memory is shadowed and quarantined: the memory
# checks are made on the plain build only.
SANITIZED = os.path.basename(BUILD).endswith("-san")
passed = 0
failed = 0


def check(desc, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (desc, detail))


def keys(*args):
    return subprocess.run([os.path.join(BUILD, "p11dkim-keys"), "-c", CONF,
                           "--operator", "test"] + list(args),
                          capture_output=True, text=True)


MILTER = os.path.join(T, "milter.sock")


# Tests run as root with every process as root, unless a test names users.
ONE_USER = "require-separate-users = false"


def write_conf(extra=None, active_mosa="stxsel1", broken=False, milter="", users=ONE_USER, workers=16,
               top="", listen_extra="", per_uid=True, milter_path=None):
    """extra: lines to add to an institution's section, by its code; top:
    more top-level options; listen_extra: more in the listen section;
    milter_path: the milter's socket (MILTER when None);
    per_uid: every worker for one uid (the tests' clients all run as one
    uid), or False for the default cap."""
    extra = extra or {}
    if per_uid:
        top = "max-connections-per-uid = %d\n%s" % (workers, top)
    uid = os.getuid()
    text = """pkcs11-module = "%(mod)s"
provider-zone = "dkim.example.net"
record-name = "sel%%n-%%c"
selectors = { "stxsel1", "stxsel2" }
dual-record-name = "ed%%n-%%c"
dual-selectors = { "stxed1", "stxed2" }
state-dir = "%(t)s/state"
ceremony-log = "%(t)s/state/ceremony.log"
log = "stderr"
%(users)s
workers = %(workers)d
%(top)sio-timeout = 3
idle-timeout = 5
drain-timeout = 10
max-header-bytes = 65536
max-message-bytes = 120000000
listen "%(sock)s" {
	mode = "0666"
%(listen_extra)s}
institution mosa {
	domains = { "mosamuseum.com" }
	pin = "file:%(t)s/mosa.pin"
	active-selector = "%(act)s"
	allow-uids = { "%(uid)d" }
%(extra_mosa)s}
institution venue {
	domains = { "venue.example.org" }
	subdomains = true
	pin = "file:%(t)s/venue.pin"
	active-selector = "stxsel1"
	algorithm = "ed25519-sha256"
	key-type = "ed25519"
	canonicalization = "simple/simple"
	allow-uids = { "%(uid)d" }
%(extra_venue)s}
institution gala {
	domains = { "gala.example.net" }
	pin = "file:%(t)s/gala.pin"
	active-selector = "stxsel1"
	dual-sign = true
	allow-gids = { "%(gid)d" }
%(extra_gala)s}
""" % {"mod": MOD, "t": T, "sock": SOCK, "uid": uid, "gid": os.getgid(), "act": active_mosa,
       "extra_mosa": extra.get("mosa", ""), "extra_venue": extra.get("venue", ""),
       "extra_gala": extra.get("gala", ""), "users": users, "workers": workers, "top": top,
       "listen_extra": listen_extra}
    if milter:
        text += 'milter "unix:%s" {\n\tmode = "0666"\n%s}\n' % (milter_path or MILTER, milter)
    if broken:
        text += "this is not a configuration\n"
    with open(CONF, "w") as f:
        f.write(text)


def sign(message, domain=None, sock=SOCK, chunk=1 << 20):
    """The protocol of docs/PROTOCOL.md: (status line, payload)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sock)
    req = [b"SIGN\n"]
    if domain:
        req.append(b"OPTION domain=%s\n" % domain.encode())
    for i in range(0, len(message), chunk):
        part = message[i:i + chunk]
        req.append(b"DATA %d\n" % len(part) + part)
    req.append(b"END\n")
    s.sendall(b"".join(req))
    f = s.makefile("rb")
    status = f.readline().decode().rstrip("\n")
    payload = b""
    if status.startswith("OK "):
        payload = f.read(int(status[3:]))
    s.close()
    return status, payload


def stats_text():
    """The STATS text (empty when refused)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(SOCK)
    s.sendall(b"STATS\n")
    f = s.makefile("rb")
    st = f.readline()
    body = f.read(int(st.split()[1])).decode() if st.startswith(b"OK ") else ""
    s.close()
    return body


def metric(text, name, **labels):
    """The value of the sample name{labels} in a STATS text, or None."""
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(want)), text, re.M)
    return int(m.group(1)) if m else None


def wire(message):
    m = re.sub(rb"(?<!\r)\n", b"\r\n", message)
    return m if m.endswith(b"\r\n") else m + b"\r\n"


def keytable():
    """Key records from `p11dkim-keys dns`, by the institution's name."""
    table = {}
    for inst, domain in (("mosa", "mosamuseum.com"), ("venue", "venue.example.org"),
                         ("gala", "gala.example.net")):
        zone = keys("dns", inst).stdout
        for n, sel, rec_prefix in ((1, "stxsel1", "sel"), (2, "stxsel2", "sel"),
                                   (1, "stxed1", "ed"), (2, "stxed2", "ed")):
            m = re.search(r"%s%d-%s\._domainkey\S* IN TXT \((.*?)\)" % (rec_prefix, n, inst), zone, re.S)
            if m:
                rec = "".join(re.findall(r'"([^"]*)"', m.group(1)))
                table["%s._domainkey.%s" % (sel, domain)] = rec
    path = os.path.join(T, "keys.txt")
    with open(path, "w") as f:
        for name, rec in table.items():
            f.write("%s %s\n" % (name, rec))
    return table, path


def dkimpy_ok(signed, table):
    def dnsfunc(name, timeout=5):
        return table.get(name.decode().rstrip("."), "").encode() or None
    d = dkim.DKIM(signed)
    sigs = [h for h in d.headers if h[0].lower() == b"dkim-signature"]
    return len(sigs) > 0 and all(d.verify(idx=i, dnsfunc=dnsfunc) for i in range(len(sigs)))


class Daemon:
    def __init__(self, milter=False):
        self.log = open(os.path.join(T, "daemon.log"), "ab")
        self.p = subprocess.Popen([os.path.join(BUILD, "p11dkimd"), "-f", "-c", CONF],
                                  stdout=self.log, stderr=self.log)
        # The parent binds the socket before its children are up: wait
        # until the front answers (and the milter socket is there).
        for _ in range(1200):
            if self.p.poll() is not None:
                raise SystemExit("p11dkimd exited %d; see %s/daemon.log" % (self.p.returncode, T))
            if self.answers() and (not milter or os.path.exists(MILTER)):
                return
            time.sleep(0.05)
        raise SystemExit("p11dkimd did not start; see %s/daemon.log" % T)

    @staticmethod
    def answers():
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(1)
            s.connect(SOCK)
            s.sendall(b"STATS\n")
            ok = s.makefile("rb").readline().startswith(b"OK ")
            s.close()
            return ok
        except OSError:
            return False

    def children(self):
        out = subprocess.run(["pgrep", "-P", str(self.p.pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def holder(self, path):
        """The child that holds the socket bound at path (a front); a
        front of a previous configuration still holds the old socket
        until it has stopped: wait until one is left."""
        def holders():
            inodes = set()
            for line in open("/proc/net/unix"):
                f = line.split()
                if len(f) >= 8 and f[7] == path:
                    inodes.add("socket:[%s]" % f[6])
            found = []
            for pid in self.children():
                try:
                    if any(os.readlink("/proc/%d/fd/%s" % (pid, fd)) in inodes
                           for fd in os.listdir("/proc/%d/fd" % pid)):
                        found.append(pid)
                except OSError:
                    pass
            return found
        if not wait_for(lambda: len(holders()) == 1, 30):
            raise RuntimeError("children holding %s: %s" % (path, holders()))
        return holders()[0]

    def signer(self):
        """The child that has the PKCS#11 module loaded."""
        for pid in self.children():
            try:
                if "softhsm" in open("/proc/%d/maps" % pid).read():
                    return pid
            except OSError:
                pass
        raise RuntimeError("no signer among %s" % self.children())

    def rss_kib(self):
        total = 0
        for pid in [self.p.pid] + self.children():
            try:
                for line in open("/proc/%d/status" % pid):
                    if line.startswith("VmRSS:"):
                        total = max(total, int(line.split()[1]))
            except OSError:
                pass
        return total

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=60)


def log_text():
    return open(os.path.join(T, "daemon.log"), "rb").read().decode(errors="replace")


def logged(pattern, seconds=5):
    """The regular expression (multiline) found in the daemon's log within
    seconds: a front logs a request after its reply, and the parent's
    relay writes the line later still."""
    return wait_for(lambda: re.search(pattern, log_text(), re.M), seconds)


def wait_for(cond, seconds):
    """cond() true within seconds (tried every 0.1 s)."""
    for _ in range(int(seconds * 10)):
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def inject(pid, call):
    """Make pid execute a system call (tests/daemon/sysinject.c)."""
    return subprocess.run([os.path.join(BUILD, "tests", "sysinject"), str(pid), call],
                          capture_output=True, text=True, timeout=30)


def sandbox_kills(d, pid, what, allowed, signs):
    """What process pid (the parent calls it `what`) may not do kills it.

    First a call on its list (allowed) runs and the process goes on
    signing; then execve, forbidden to every process of the daemon,
    kills it with SIGSYS; the parent logs that and starts a new one, and
    signs() (a message signed and verified) is true again.
    """
    r = inject(pid, allowed)
    check("%s: %s is allowed and it serves on" % (what, allowed),
          r.returncode == 0 and pid in d.children() and signs(), r.stdout + r.stderr)
    r = inject(pid, "execve")
    check("%s: execve kills it (SIGSYS)" % what,
          r.returncode == 3 and "killed by signal 31" in r.stdout, r.stdout + r.stderr)
    line = "%s killed by signal 31: restarting it" % what
    check("%s: its death is logged, it is restarted, signing works" % what,
          wait_for(lambda: line in log_text() and pid not in d.children() and signs(), 20),
          log_text()[-3000:])


def summary(name):
    print("%s: %d passed, %d failed" % (name, passed, failed))
    return 1 if failed else 0


def zone_of(inst):
    """A zone file with what `p11dkim-keys dns` prints for inst: its key
    records and its CNAMEs, as if both zones published them."""
    path = os.path.join(T, inst + ".zone")
    with open(path, "w") as f:
        f.write(keys("dns", inst).stdout)
    return path


def promote(inst):
    """A new institution is pending: confirm its DNS (from zone_of), so
    that the daemon signs for it."""
    return keys("check-dns", inst, "--promote", "--zone", zone_of(inst))


def setup(milter="", extra=None):
    """Tokens, keys and configuration, every institution promoted to live;
    returns (key table, key table file)."""
    os.umask(0o077)
    os.chmod(T, 0o711)          # other uids may reach the socket (mode 0666)
    os.makedirs(os.path.join(T, "state"), exist_ok=True)
    for name, pin in (("mosa", "mosa-pin-12345678"), ("venue", "venue-pin-1234567"),
                      ("gala", "gala-pin-12345678"), ("so", "so-pin-12345678")):
        with open(os.path.join(T, name + ".pin"), "w") as f:
            f.write(pin + "\n")
    write_conf(milter=milter, extra=extra)
    for inst in ("mosa", "venue", "gala"):
        r = keys("init-token", inst, "--so-pin", "file:%s/so.pin" % T, "--pin", "file:%s/%s.pin" % (T, inst))
        check("init-token " + inst, r.returncode == 0, r.stderr)
        r = keys("generate", inst)
        check("generate " + inst, r.returncode == 0, r.stderr)
        r = promote(inst)
        check("check-dns --promote " + inst, r.returncode == 0, r.stdout + r.stderr)
    return keytable()
