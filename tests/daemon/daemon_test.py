#!/usr/bin/python3
"""daemon_test.py - p11dkimd end to end on SoftHSM2 tokens.

Sets up two institutions (mosa: RSA-2048, venue: Ed25519) with
p11dkim-keys in a throw-away token store, starts p11dkimd, and checks:
signatures over the corpus verified by dkimpy and Mail::DKIM with the keys
that `p11dkim-keys dns` prints; each refusal and its reply; the daemon
serving on after misbehaving clients with flat memory; reload with a
rotated selector and with a broken file; token trouble (store moved away
and back); crash restarts; a forbidden system call killing the front
and the signer (restarted); SIGTERM under load.

Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
Last line: "daemon-test: N passed, M failed".
"""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11env import *  # noqa: E402,F401,F403
import p11env  # noqa: E402

def version_option():
    """--version: "p11dkimd VERSION", the version of debian/changelog's first line."""
    with open(os.path.join(TOP, "debian/changelog")) as f:
        want = re.match(r"\S+ \(([^)]+)\)", f.readline()).group(1)
    r = subprocess.run([os.path.join(BUILD, "p11dkimd"), "--version"], capture_output=True, text=True)
    check("p11dkimd --version", r.returncode == 0 and r.stdout == "p11dkimd %s\n" % want, r)


def main():
    version_option()
    table, keyfile = setup()
    r = subprocess.run([os.path.join(BUILD, "p11dkimd"), "-n", "-c", CONF], capture_output=True, text=True)
    check("p11dkimd -n accepts the configuration", r.returncode == 0, r.stderr)
    write_conf(broken=True)
    r = subprocess.run([os.path.join(BUILD, "p11dkimd"), "-n", "-c", CONF], capture_output=True, text=True)
    check("p11dkimd -n refuses a broken file, with file:line", r.returncode == 78 and re.search(r"p11dkim.conf:\d+:", r.stderr), r.stderr)
    write_conf()
    d = Daemon()
    try:
        run_all(d, table, keyfile)
    finally:
        if d.p.poll() is None:
            d.p.kill()
    sys.exit(summary("daemon-test"))


def corpus_signing(table, keyfile):
    out = os.path.join(T, "signed")
    os.makedirs(out, exist_ok=True)
    large = os.path.join(T, "large")
    subprocess.run(["/usr/bin/python3", os.path.join(TOP, "tests/xverify/gen_large.py"), large], check=True)
    files = sorted(glob.glob(os.path.join(TOP, "tests/corpus/*.eml"))) + sorted(glob.glob(large + "/*.eml"))
    rsa_files = []
    for path in files:
        msg = open(path, "rb").read()
        base = os.path.basename(path)[:-4]
        for inst, domain in (("mosa", "mosamuseum.com"), ("venue", "venue.example.org")):
            status, field = sign(msg, domain=domain)
            if not status.startswith("OK"):
                check("sign %s for %s" % (base, inst), False, status)
                continue
            signed = field + wire(msg)
            dst = os.path.join(out, "%s.%s.eml" % (base, inst))
            with open(dst, "wb") as f:
                f.write(signed)
            if "-obs-" not in base:
                check("dkimpy verifies %s (%s)" % (base, inst), dkimpy_ok(signed, table))
            if inst == "mosa":
                rsa_files.append(dst)
    r = subprocess.run(["perl", os.path.join(TOP, "tests/xverify/verify_maildkim.pl"), keyfile] + rsa_files,
                       capture_output=True, text=True)
    check("Mail::DKIM verifies every rsa-sha256 signature (%d files)" % len(rsa_files), r.returncode == 0,
          r.stdout[-2000:])


MSG = (b"From: Tickets <tickets@mosamuseum.com>\r\nTo: a@example.org\r\n"
       b"Subject: test\r\nMessage-ID: <t1@mosamuseum.com>\r\n\r\nHello.\r\n")


def refusals(d):
    cases = [
        ("unknown domain", MSG.replace(b"mosamuseum.com", b"unknown.example"), "PERMFAIL domain unknown.example is not signed here"),
        ("no From", b"To: a@example.org\r\n\r\nx\r\n", "PERMFAIL no From header field"),
        ("two From", b"From: a@mosamuseum.com\r\n" + MSG, "PERMFAIL 2 From header fields"),
        ("malformed header", b"From: a@mosamuseum.com\r\nnot a header\r\n\r\nx\r\n", "PERMFAIL header line 2: not a header field"),
        ("oversize header", MSG.replace(b"Subject: test", b"Subject: " + b"x" * 70000), "PERMFAIL header section larger than the limit"),
        ("empty message", b"", "PERMFAIL empty message"),
    ]
    for desc, msg, want in cases:
        status, _ = sign(msg)
        check("refusal: " + desc, status.startswith(want), status)
    # A peer uid that may not sign for mosa (socket mode 0666 lets it in).
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX);s.connect(%r)\n"
            "m=%r\ns.sendall(b'SIGN\\nDATA %%d\\n'%%len(m)+m+b'END\\n')\n"
            "print(s.makefile('rb').readline().decode().strip())\n") % (SOCK, MSG)
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                       preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
    check("refusal: unauthorized peer uid", r.stdout.startswith("PERMFAIL not authorized: uid 65534 may not sign for mosa"),
          r.stdout + r.stderr)
    check("the refusal is logged", logged(r"may not sign for mosa"))
    check("a refusal is a warning with inst= and d=, no selector used",
          logged(r"\]: warning: permfail inst=mosa d=mosamuseum\.com s=- alg=- msgid=<t1@mosamuseum\.com> "
                 r"size=\d+ ms=[\d.]+ uid=65534 reason=not authorized"))
    check("an unknown domain is a warning (the native front refuses, nothing passes)",
          logged(r"\]: warning: permfail inst=- d=- s=- alg=- msgid=<t1@unknown\.example> .* "
                 r"reason=domain unknown\.example is not signed here"))
    # Framing errors close the connection after the reply.
    s = socket.socket(socket.AF_UNIX); s.connect(SOCK); s.sendall(b"HELLO\n")
    f = s.makefile("rb")
    check("protocol error replied", f.readline().startswith(b"PERMFAIL protocol error"))
    check("then the connection is closed", f.readline() == b"")
    s.close()
    s = socket.socket(socket.AF_UNIX); s.connect(SOCK); s.sendall(b"SIGN\nDATA 2000000\n")
    check("DATA over 1 MiB refused", s.makefile("rb").readline().startswith(b"PERMFAIL protocol error"))
    s.close()
    # Several requests on one connection, and STATS.
    s = socket.socket(socket.AF_UNIX); s.connect(SOCK)
    f = s.makefile("rb")
    ok = True
    for _ in range(3):
        s.sendall(b"SIGN\nDATA %d\n" % len(MSG) + MSG + b"END\n")
        st = f.readline()
        ok = ok and st.startswith(b"OK ")
        f.read(int(st.split()[1]))
    check("three requests on one connection", ok)
    s.sendall(b"STATS\n")
    st = f.readline()
    body = f.read(int(st.split()[1])).decode() if st.startswith(b"OK ") else ""
    check("STATS in Prometheus format", 'p11dkim_requests_total{front="native",institution="mosa",result="signed"}' in body
          and "p11dkim_request_seconds_bucket" in body, body[:300])
    s.close()


def misbehaving_clients(d):
    rss0 = d.rss_kib()
    for i in range(60):
        s = socket.socket(socket.AF_UNIX); s.connect(SOCK)
        s.sendall(b"SIGN\nDATA 5000\n" + MSG[:40])        # and disappear
        s.close()
        time.sleep(0.01)
    time.sleep(0.5)
    s = socket.socket(socket.AF_UNIX); s.connect(SOCK)
    s.sendall(b"SIGN\nDATA 500\n" + MSG[:40])              # and stall
    s.settimeout(10)
    t0 = time.time()
    got = s.recv(100)
    check("a stalled client is cut off after io-timeout", got == b"" and 2 < time.time() - t0 < 8,
          "%r after %.1fs" % (got, time.time() - t0))
    s.close()
    status, _ = sign(MSG)
    check("the daemon serves on after misbehaving clients", status.startswith("OK"), status)
    for _ in range(100):
        sign(MSG)
    rss1 = d.rss_kib()
    if not SANITIZED:
        check("memory stays flat (%d -> %d KiB)" % (rss0, rss1), rss1 - rss0 < 8192)
    check("a lost connection is logged", logged(r"connection lost or timed out"))


def big_message(d, table):
    """100 MiB through the daemon: streamed, so its memory stays small."""
    size = 100 * 1024 * 1024
    line = b"All work and no play makes the token a dull HSM, said the museum.\r\n"
    body = line * (size // len(line))
    msg = MSG + body
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], d.rss_kib())
            time.sleep(0.05)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        status, field = sign(msg)
    finally:                    # a client error must not leave it running
        done.set()
        th.join()
    check("100 MiB message signed", status.startswith("OK"), status)
    if not SANITIZED:
        check("daemon peak RSS under 32 MiB while signing 100 MiB (%d KiB)" % peak[0], 0 < peak[0] < 32 * 1024)
    if status.startswith("OK"):
        check("dkimpy verifies the 100 MiB message", dkimpy_ok(field + wire(msg), table))


def under_load(action, clients=4):
    """action() while clients sign MSG round and round: their (status,
    payload) results; a failed connection is a status that says so."""
    results, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                results.append(sign(MSG))
            except OSError as e:
                results.append(("EXCEPTION %s" % e, b""))
    th = [threading.Thread(target=load) for _ in range(clients)]
    for t in th:
        t.start()
    try:
        action()
    finally:
        stop.set()
        for t in th:
            t.join()
    return results


def reload_rotation(d):
    r = keys("rotate", "mosa", "start")
    check("rotate start", r.returncode == 0, r.stderr)
    r = keys("rotate", "mosa", "publish")
    zone = os.path.join(T, "rot.zone")
    with open(zone, "w") as f:
        f.write(r.stdout)
        f.write(keys("dns", "mosa").stdout)  # the CNAMEs verify checks
    r = keys("rotate", "mosa", "verify", "--zone", zone)
    check("rotate verify", r.returncode == 0, r.stderr)
    r = keys("rotate", "mosa", "activate")
    check("rotate activate", r.returncode == 0, r.stderr)
    table, _ = keytable()
    def one_reload():
        time.sleep(0.5)
        d.p.send_signal(signal.SIGHUP)
        time.sleep(2.5)
    results = under_load(one_reload)
    bad = [s for s, _ in results if not s.startswith("OK")]
    check("no request dropped during the reload (%d requests)" % len(results), not bad and len(results) > 20, bad[:3])
    sels = set(re.search(rb"s=([a-z0-9]+);", f.replace(b"\r\n\t", b"")).group(1) for s, f in results if s.startswith("OK"))
    check("signatures switch to the new selector", b"stxsel2" in sels, sels)
    status, field = sign(MSG)
    check("after the reload: s=stxsel2, verified", b"s=stxsel2" in field.replace(b"\r\n\t", b"")
          and dkimpy_ok(field + MSG, table), status)
    write_conf(broken=True)
    d.p.send_signal(signal.SIGHUP)
    time.sleep(1)
    check("a broken file on reload is refused and logged", "reload refused" in log_text())
    status, field = sign(MSG)
    check("signing continues on the old configuration", status.startswith("OK") and b"s=stxsel2" in field.replace(b"\r\n\t", b""), status)
    write_conf()
    return table


def request_on(s, message):
    """One SIGN on an open connection: (status line, payload)."""
    s.sendall(b"SIGN\n" + b"DATA %d\n" % len(message) + message + b"END\n")
    f = s.makefile("rb")
    status = f.readline().decode().rstrip("\n")
    payload = f.read(int(status[3:])) if status.startswith("OK ") else b""
    return status, payload


def at_eof(s):
    """The peer closed s (nothing to read, and never will be)."""
    try:
        return s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False


def reload_drain(d, table):
    """A reload drains the old front: a connection it accepted whose first
    request comes only after the drain began is served; a connection idle
    after a request is closed without a reply (docs/PROTOCOL.md)."""
    idle = socket.socket(socket.AF_UNIX)
    idle.settimeout(30)
    idle.connect(SOCK)
    status, _ = request_on(idle, MSG)
    check("a first request on the connection left idle", status.startswith("OK"), status)
    fresh = socket.socket(socket.AF_UNIX)
    fresh.settimeout(30)
    fresh.connect(SOCK)
    time.sleep(0.5)                     # accepted by the running front
    mark = log_text().count("front: stopping; draining")
    d.p.send_signal(signal.SIGHUP)
    check("the old front drains on SIGHUP",
          wait_for(lambda: log_text().count("front: stopping; draining") > mark, 20))
    time.sleep(0.6)                     # three of the front's idle ticks
    try:
        status, field = request_on(fresh, MSG)
    except OSError as e:
        status, field = "EXCEPTION %s" % e, b""
    check("a connection accepted before the drain, its request sent during it: "
          "served and verified", status.startswith("OK") and dkimpy_ok(field + MSG, table), status)
    check("a connection idle between requests is closed at the drain, unanswered",
          wait_for(lambda: at_eof(idle), 20))
    fresh.close()
    idle.close()


def reloads_in_a_row(d, table):
    """SIGHUPs 0.25 s apart under a load: each old front drains while
    its threads end together; not one request lost, no process killed."""
    killed = log_text().count("killed by signal")

    def hups():
        for _ in range(40):
            time.sleep(0.25)
            d.p.send_signal(signal.SIGHUP)
        time.sleep(1)
    results = under_load(hups)
    bad = [s for s, _ in results if not s.startswith("OK")]
    check("40 reloads in a row under load: no request lost (%d requests)" % len(results),
          not bad and len(results) > 40, bad[:3])
    check("... and no process died meanwhile", log_text().count("killed by signal") == killed,
          re.findall(r".*killed by signal.*", log_text())[-3:])
    status, field = sign(MSG)
    check("... and it signs after them, verified", status.startswith("OK") and
          dkimpy_ok(field + MSG, table), status)


def token_trouble(d, table):
    store = os.path.join(T, "tokens")
    shutil.move(store, store + ".away")
    status, _ = sign(MSG)
    check("token store gone: TEMPFAIL", status.startswith("TEMPFAIL"), status)
    shutil.move(store + ".away", store)
    ok = False
    for _ in range(100):
        status, field = sign(MSG)
        if status.startswith("OK"):
            ok = dkimpy_ok(field + MSG, table)
            break
        time.sleep(0.1)
    check("signing resumes by itself when the token returns", ok, status)


def crashes(d, table):
    kids = d.children()
    for victim in ("front", "signer"):
        kids = d.children()
        # The signer is the child that holds the module.
        signer = d.signer()
        pid = signer if victim == "signer" else max(k for k in kids if k != signer)
        os.kill(pid, signal.SIGKILL)
        ok = False
        for _ in range(100):
            time.sleep(0.1)
            try:
                status, field = sign(MSG)
            except OSError:
                continue
            if status.startswith("OK"):
                ok = dkimpy_ok(field + MSG, table)
                break
        check("killed %s is restarted and signing goes on" % victim, ok)
    check("restarts are logged", "restarting it" in log_text())


def stray_signals(d, table):
    # Ctrl-C or a KillMode=control-group stop signals every process at
    # once: the signer waits for the parent to stop it after the fronts.
    pid = d.signer()
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    status, field = sign(MSG)
    check("the signer outlives SIGTERM and SIGINT of its own",
          pid in d.children() and status.startswith("OK") and dkimpy_ok(field + MSG, table),
          status)


def sandbox(d, table):
    """The system call filters: a forbidden call kills, the parent restarts."""
    def signs():
        try:
            status, field = sign(MSG)
        except OSError:
            return False
        return status.startswith("OK") and dkimpy_ok(field + MSG, table)
    sandbox_kills(d, d.holder(SOCK), "front", "getpid", signs)
    # The signer's module may open files (its token store) at any time.
    sandbox_kills(d, d.signer(), "signer", "openat", signs)


def sigterm_under_load(d, table):
    results = []
    lock = threading.Lock()

    def load():
        for _ in range(400):
            try:
                st, f = sign(MSG)
            except OSError:
                return
            with lock:
                results.append((st, f))
    th = [threading.Thread(target=load) for _ in range(8)]
    for t in th:
        t.start()
    time.sleep(0.7)
    rc = d.stop()
    for t in th:
        t.join()
    broken = [st for st, f in results if not (st.startswith("OK") or st.startswith("TEMPFAIL") or st == "")]
    check("SIGTERM under load: %d replies, all OK or TEMPFAIL" % len(results), results and not broken, broken[:3])
    oks = [f for st, f in results if st.startswith("OK")]
    check("the signatures made while stopping verify", all(dkimpy_ok(f + MSG, table) for f in oks[-20:]))
    check("p11dkimd exits 0 after SIGTERM", rc == 0, rc)
    check("the socket is removed", not os.path.exists(SOCK))


def sign_tool(table, keyfile):
    """The corpus through p11dkim-sign: signature prepended, rest byte-identical."""
    tool = os.path.join(BUILD, "p11dkim-sign")
    out = os.path.join(T, "tool")
    os.makedirs(out, exist_ok=True)
    rsa = []
    for path in sorted(glob.glob(os.path.join(TOP, "tests/corpus/*.eml"))):
        msg = open(path, "rb").read()
        r = subprocess.run([tool, "-s", SOCK, "-d", "mosamuseum.com", path], capture_output=True)
        if r.returncode != 0:
            check("p11dkim-sign %s" % os.path.basename(path), False, r.stderr)
            continue
        signed = r.stdout
        check("p11dkim-sign keeps %s byte-identical" % os.path.basename(path), signed.endswith(msg))
        dst = os.path.join(out, os.path.basename(path))
        with open(dst, "wb") as f:
            f.write(wire(signed))
        rsa.append(dst)
        if "-obs-" not in path:
            check("dkimpy verifies p11dkim-sign output %s" % os.path.basename(path), dkimpy_ok(wire(signed), table))
    r = subprocess.run(["perl", os.path.join(TOP, "tests/xverify/verify_maildkim.pl"), keyfile] + rsa,
                       capture_output=True, text=True)
    check("Mail::DKIM verifies p11dkim-sign output (%d files)" % len(rsa), r.returncode == 0, r.stdout[-2000:])
    r = subprocess.run([tool, "-s", SOCK], input=b"From: a@unknown.example\n\nx\n", capture_output=True)
    check("p11dkim-sign: unknown domain exits 65, nothing on stdout", r.returncode == 65 and r.stdout == b"", r)


def dual(table, keyfile):
    msg = MSG.replace(b"mosamuseum.com", b"gala.example.net")
    status, fields = sign(msg)
    check("dual signing: two signatures", status.startswith("OK") and fields.count(b"DKIM-Signature:") == 2, status)
    check("dual signing logged with d= and both selectors and algorithms",
          logged(r"\]: signed inst=gala d=gala\.example\.net s=stxsel1,stxed1 alg=rsa-sha256,ed25519-sha256 "
                 r"msgid=<t1@gala\.example\.net> size=\d+ ms=[\d.]+ uid=\d+$"), log_text()[-600:])
    flat = fields.replace(b"\r\n\t", b"")
    check("dual signing: rsa-sha256 s=stxsel1 and ed25519-sha256 s=stxed1",
          b"a=rsa-sha256" in flat and b"a=ed25519-sha256" in flat and b"s=stxed1;" in flat)
    signed = fields + msg
    check("dkimpy verifies both", dkimpy_ok(signed, table))
    path = os.path.join(T, "dual.eml")
    with open(path, "wb") as f:
        f.write(signed)
    r = subprocess.run(["perl", os.path.join(TOP, "tests/xverify/verify_maildkim.pl"), "--allow-skip", keyfile, path],
                       capture_output=True, text=True)
    check("Mail::DKIM verifies the rsa-sha256 one", r.returncode == 0, r.stdout)
    r = keys("check-dns", "gala", "--zone", "-")
    check("check-dns knows the dual selectors", "stxed1" in r.stdout, r.stdout + r.stderr)


def run_all(d, table, keyfile):
    corpus_signing(table, keyfile)
    sign_tool(table, keyfile)
    dual(table, keyfile)
    refusals(d)
    misbehaving_clients(d)
    big_message(d, table)
    table = reload_rotation(d)
    reload_drain(d, table)
    reloads_in_a_row(d, table)
    token_trouble(d, table)
    crashes(d, table)
    stray_signals(d, table)
    sandbox(d, table)
    sigterm_under_load(d, table)
    check("no process was killed by its filter but the two the test made",
          log_text().count("killed by signal 31") == 2)


if __name__ == "__main__":
    main()
