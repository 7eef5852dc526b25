#!/usr/bin/python3
"""quota_test.py - per-institution signing quotas in p11dkimd.

mosa: rate 1, burst 5; gala (dual-signing): rate 1, burst 12; venue: a
daily cap of 3.  Checks: a burst above the rate gets TEMPFAIL for the
excess only, with the reason, while another institution signs at the
same time; a dual-signed message spends one unit, not two; a reload that
changes venue's cap gives venue its new cap and keeps what it counted,
and keeps mosa's and gala's spent bursts spent; the daily cap refuses
with its reason, through the native front and the milter (which
tempfails even with on-token-failure = "accept"); STATS counts every
refusal, by institution and limit, and none as a token error.  Every
signature made is verified by dkimpy.

Counts are exact when a burst is sent in less than a second (the rate
adds one message a second); on a slower run the bound widens by the
seconds it took.

Run through tests/integration/run.sh (P11DKIM_TEST_DIR).
Last line: "quota-test: N passed, M failed".
"""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11env import *  # noqa: E402,F401,F403

DOMAIN = {"mosa": "mosamuseum.com", "venue": "venue.example.org", "gala": "gala.example.net"}
MILTER_OPTS = '\ton-token-failure = "accept"\n'
HOSTS = '\tmilter-hosts = { "127.0.0.1", "::1" }\n'


def quotas(venue_cap):
    return {"mosa": "\trate = 1\n\tburst = 5\n" + HOSTS,
            "gala": "\trate = 1\n\tburst = 12\n" + HOSTS,
            "venue": "\tdaily-cap = %d\n" % venue_cap + HOSTS}


def message(inst, n):
    return (b"From: Office <office@%s>\r\nTo: a@example.org\r\nSubject: quota %d\r\n"
            b"Message-ID: <%s.%d.%f@example>\r\n\r\nHello.\r\n"
            % (DOMAIN[inst].encode(), n, inst.encode(), n, time.time()))


def burst(inst, n, results, table):
    """n requests for inst at once; appends (status, verified) to results."""
    def one(i):
        msg = message(inst, i)
        status, field = sign(msg)
        results.append((status, status.startswith("OK") and dkimpy_ok(field + msg, table)))
    th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    return th


def run_burst(inst, n, table):
    """n requests at once; (results, seconds it took)."""
    results = []
    start = time.monotonic()
    for t in burst(inst, n, results, table):
        t.join()
    return results, time.monotonic() - start


def signed(results):
    return sum(1 for s, _ in results if s.startswith("OK"))


def all_verified(results):
    return all(ok for s, ok in results if s.startswith("OK"))


def refused(results, reason):
    return sum(1 for s, _ in results if s.startswith("TEMPFAIL") and reason in s)


def within(n_signed, burst_size, seconds):
    """The burst, plus what the rate of 1/s added while the requests ran."""
    return burst_size <= n_signed <= burst_size + int(seconds)


RATE_MOSA = "rate limit: institution mosa over 1 messages/s (burst 5); retry later"
RATE_GALA = "rate limit: institution gala over 1 messages/s (burst 12); retry later"


def first_bursts(table, refusals):
    """mosa over its burst while venue signs; gala's dual messages."""
    mosa, venue = [], []
    start = time.monotonic()
    th = burst("mosa", 8, mosa, table) + burst("venue", 2, venue, table)
    for t in th:
        t.join()
    took = time.monotonic() - start
    check("mosa: 8 requests at once, 5 signed (%d, in %.2f s)" % (signed(mosa), took),
          within(signed(mosa), 5, took), [s for s, _ in mosa])
    check("mosa: the excess gets TEMPFAIL with the rate limit's reason",
          refused(mosa, RATE_MOSA) == 8 - signed(mosa), [s for s, _ in mosa])
    check("venue signs meanwhile: 2 of 2", signed(venue) == 2, [s for s, _ in venue])
    check("every signature verifies (mosa, venue)", all_verified(mosa + venue))
    refusals["mosa"] += refused(mosa, RATE_MOSA)
    gala, took = run_burst("gala", 14, table)
    check("gala dual-signs 12 messages of 14 on a burst of 12: one unit a message (%d, in %.2f s)"
          % (signed(gala), took), within(signed(gala), 12, took), [s for s, _ in gala])
    check("gala: the excess gets TEMPFAIL with the reason", refused(gala, RATE_GALA) == 14 - signed(gala),
          [s for s, _ in gala])
    check("every gala signature verifies (rsa-sha256 and ed25519-sha256)", all_verified(gala))
    refusals["gala"] += refused(gala, RATE_GALA)
    return start


def reload(d, venue_cap):
    before = log_text().count("configuration reloaded")
    write_conf(extra=quotas(venue_cap), milter=MILTER_OPTS)
    d.p.send_signal(signal.SIGHUP)
    for _ in range(300):
        time.sleep(0.05)
        if log_text().count("configuration reloaded") > before and Daemon.answers():
            return True
    return False


def after_reload(table, refusals, since):
    """venue's new cap, counted from what it had; mosa's and gala's spent bursts."""
    venue, _ = run_burst("venue", 3, table)
    daily = "daily cap of 4 reached for venue; resets at 00:00 UTC"
    check("venue: its new cap of 4 counts its 2 signed before the reload: 2 more signed",
          signed(venue) == 2 and all_verified(venue), [s for s, _ in venue])
    check("venue: the third gets TEMPFAIL: '%s'" % daily, refused(venue, daily) == 1, [s for s, _ in venue])
    refusals["venue"] += refused(venue, daily)
    for inst, size, reason in (("gala", 12, RATE_GALA), ("mosa", 5, RATE_MOSA)):
        res, _ = run_burst(inst, size, table)
        bound = 1 + int(time.monotonic() - since)
        check("%s: its spent burst stays spent across the reload (%d of %d signed, at most %d)"
              % (inst, signed(res), size, min(bound, size)), signed(res) <= bound and signed(res) < size,
              [s for s, _ in res])
        check("%s: all verified, the rest refused by the rate" % inst,
              all_verified(res) and refused(res, reason) == size - signed(res))
        refusals[inst] += refused(res, reason)


MILTER_SCRIPT = """
conn = mt.connect("unix:%(sock)s")
if conn == nil then error("connect") end
if mt.conninfo(conn, "localhost", "127.0.0.1") ~= nil then error("conninfo") end
if mt.mailfrom(conn, "office@%(domain)s") ~= nil then error("mailfrom") end
if mt.header(conn, "From", " Office <office@%(domain)s>") ~= nil then error("header") end
if mt.bodystring(conn, "Hello.\\r\\n") ~= nil then error("body") end
if mt.eom(conn) ~= nil then error("eom") end
r = mt.getreply(conn)
if mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature") then print("SIGNED")
elseif r == SMFIR_TEMPFAIL then print("TEMPFAIL at EOM")
else print("reply " .. r) end
mt.disconnect(conn)
"""


def milter(refusals):
    path = os.path.join(T, "quota.lua")
    with open(path, "w") as f:
        f.write(MILTER_SCRIPT % {"sock": MILTER, "domain": DOMAIN["venue"]})
    r = subprocess.run(["miltertest", "-s", path], capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    check("milter: venue over its daily cap: TEMPFAIL (on-token-failure = accept does not apply)",
          out == "TEMPFAIL at EOM", out)
    check("milter: the reason is logged", "reason=daily cap of 4 reached for venue" in log_text())
    refusals["venue"] += 1 if out == "TEMPFAIL at EOM" else 0


def counters(refusals):
    text = stats_text()
    for inst, limit in (("mosa", "rate"), ("gala", "rate"), ("venue", "daily-cap")):
        got = metric(text, "p11dkim_quota_refusals_total", front="native", institution=inst, limit=limit)
        check("STATS: %s's %s refusals, both fronts, across the reload: %s (want %d)"
              % (inst, limit, got, refusals[inst]), got == refusals[inst])
    other = [metric(text, "p11dkim_quota_refusals_total", front="native", institution=i, limit=l)
             for i, l in (("mosa", "daily-cap"), ("gala", "daily-cap"), ("venue", "rate"))]
    check("STATS: no refusal by a limit the institution does not have", other == [0, 0, 0], other)
    errors = [metric(text, "p11dkim_token_errors_total", front="native", institution=i)
              for i in ("mosa", "gala", "venue")]
    check("STATS: a quota refusal is not a token error", errors == [0, 0, 0], errors)


def main():
    table, _ = setup(milter=MILTER_OPTS, extra=quotas(3))
    d = Daemon(milter=True)
    refusals = {"mosa": 0, "gala": 0, "venue": 0}
    try:
        since = first_bursts(table, refusals)
        check("reload with venue's daily cap raised to 4", reload(d, 4), log_text()[-500:])
        after_reload(table, refusals, since)
        milter(refusals)
        counters(refusals)
    finally:
        if d.p.poll() is None:
            d.stop()
    sys.exit(summary("quota-test"))


if __name__ == "__main__":
    main()
