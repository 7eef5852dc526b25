#!/usr/bin/python3
"""faults_test.py - p11dkimd on a token that misbehaves like hardware.

The institutions' tokens are SoftHSM2's, seen through the fault-injection
module (tests/p11fault), whose control file each phase rewrites:

  flaky     10% of C_Sign fail with CKR_DEVICE_ERROR and 10% return a
            corrupted signature: at least 99% of 1,000 requests are
            signed, every signature verifies (dkimpy), the rest are
            TEMPFAIL; the bad signatures are logged and counted in STATS
  hang      mosa's C_Sign hangs: mosa's requests get TEMPFAIL within
            io-timeout while venue, on another token, keeps signing;
            once the token answers again mosa signs by itself
  sessions  the token allows 2 sessions (the login's and one more): 8
            clients at once all get valid signatures
  stop      C_Logout and C_CloseAllSessions take 3 s each: the signer
            still stops at once (C_Finalize ends every session and login;
            a logout per token cost SoftHSM2 a walk of every object of
            every token, more than 10 s with 10,000 tokens)

Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
Last line: "faults-test: N passed, M failed".
"""
import os
import re
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_build = os.path.join(TOP, os.environ.get("BUILD", "build"))
os.environ["P11FAULT_MODULE"] = "/usr/lib/softhsm/libsofthsm2.so"
os.environ["P11DKIM_TEST_MODULE"] = os.path.join(_build, "tests", "libp11fault.so")
CONTROL = os.path.join(os.environ["P11DKIM_TEST_DIR"], "p11fault.control")
os.environ["P11FAULT_CONTROL"] = CONTROL

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11env import *  # noqa: E402,F401,F403

MOSA = (b"From: Tickets <tickets@mosamuseum.com>\r\nTo: a@example.org\r\n"
        b"Subject: %d\r\nMessage-ID: <%d@mosamuseum.com>\r\n\r\nHello.\r\n")
VENUE = MOSA.replace(b"mosamuseum.com", b"venue.example.org")


def control(text):
    tmp = CONTROL + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, CONTROL)
    time.sleep(0.3)         # the module looks at the file every few ms


def run_clients(n, clients, make):
    """n requests from `clients` threads: [(status, message, field)]."""
    out, lock, nxt = [], threading.Lock(), [0]

    def run():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            m = make(i)
            try:
                status, field = sign(m)
            except OSError as e:
                status, field = "EXCEPTION %s" % e, b""
            with lock:
                out.append((status, m, field))
    th = [threading.Thread(target=run) for _ in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return out



def flaky(table):
    control("C_Sign error=CKR_DEVICE_ERROR p=0.1\nC_Sign corrupt p=0.1\n")
    d = Daemon()
    try:
        res = run_clients(1000, 8, lambda i: MOSA % (i, i))
        ok = [r for r in res if r[0].startswith("OK")]
        temp = [r for r in res if r[0].startswith("TEMPFAIL")]
        other = [r for r in res if not r[0].startswith(("OK", "TEMPFAIL"))]
        check("flaky token: at least 990 of 1000 requests signed (%d)" % len(ok), len(ok) >= 990,
              repr([r[0] for r in temp[:3]]))
        check("flaky token: the rest are TEMPFAIL (%d)" % len(temp), len(ok) + len(temp) == 1000,
              repr([r[0] for r in other[:3]]))
        bad = [r for r in ok if not dkimpy_ok(r[2] + wire(r[1]), table)]
        check("flaky token: every signature verifies (dkimpy, %d)" % len(ok), not bad)
        body = stats_text()
        m = re.search(r'p11dkim_token_bad_signatures_total\{front="native",institution="mosa"\} (\d+)', body)
        check("flaky token: bad signatures counted in STATS (%s)" % (m.group(1) if m else None),
              m is not None and int(m.group(1)) > 50)
        check("flaky token: bad signatures logged as security events", "security: institution mosa" in log_text())
    finally:
        d.stop()
        control("")


def hang(table):
    control("")
    d = Daemon()
    try:
        status, _ = sign(MOSA % (1, 1))
        check("before the hang mosa signs", status.startswith("OK"), status)
        control("C_Sign hang label=mosa\n")
        t0 = time.time()
        res = run_clients(6, 3, lambda i: MOSA % (i, i))
        took = time.time() - t0
        check("hung token: mosa's requests get TEMPFAIL (%s)" % sorted(set(r[0][:40] for r in res)),
              all(r[0].startswith("TEMPFAIL") for r in res))
        check("hung token: within io-timeout (%.1f s for 6 requests, 3 at a time)" % took, took < 3 * 3 + 2)
        res = run_clients(40, 4, lambda i: VENUE % (i, i))
        good = [r for r in res if r[0].startswith("OK") and dkimpy_ok(r[2] + wire(r[1]), table)]
        check("hung token: venue, on another token, keeps signing (%d of 40)" % len(good), len(good) == 40,
              repr([r[0] for r in res if not r[0].startswith("OK")][:3]))
        control("")
        ok = False
        end = time.time() + 30
        while time.time() < end and not ok:
            status, field = sign(MOSA % (2, 2))
            ok = status.startswith("OK") and dkimpy_ok(field + wire(MOSA % (2, 2)), table)
            time.sleep(0.2)
        check("hung token: once it answers again mosa signs by itself", ok, status)
    finally:
        control("")
        d.stop()


def sessions(table):
    control("sessions max=2 label=mosa\n")
    d = Daemon()
    try:
        res = run_clients(200, 8, lambda i: MOSA % (i, i))
        good = [r for r in res if r[0].startswith("OK") and dkimpy_ok(r[2] + wire(r[1]), table)]
        check("two sessions, 8 clients: every request signed and valid (%d of 200)" % len(good),
              len(good) == 200, repr([r[0] for r in res if not r[0].startswith("OK")][:3]))
    finally:
        d.stop()
        control("")


def stop(table):
    control("")
    d = Daemon()
    try:
        status, _ = sign(MOSA % (3, 3))
        check("before the stop mosa signs", status.startswith("OK"), status)
        status, _ = sign(VENUE % (3, 3))
        check("before the stop venue signs", status.startswith("OK"), status)
        control("C_Logout delay=3000\nC_CloseAllSessions delay=3000\n")
        start = os.path.getsize(os.path.join(T, "daemon.log"))
    finally:
        t0 = time.time()
        d.stop()
        took = time.time() - t0
        control("")
    with open(os.path.join(T, "daemon.log"), errors="replace") as f:
        f.seek(start)
        log = f.read()
    check("slow logouts: the daemon stops within 5 s (%.1f s)" % took, took < 5)
    check("slow logouts: the signer stops by itself", "signer stopped (exit 0)" in log and
          "did not stop" not in log, log[-300:])


def main():
    control("")
    table, _ = setup()
    check("the ceremony through the fault module", len(table) > 0)
    write_conf(workers=32)      # 16 connections for one uid: 8 clients
    flaky(table)
    hang(table)
    sessions(table)
    stop(table)
    sys.exit(summary("faults-test"))


if __name__ == "__main__":
    main()
