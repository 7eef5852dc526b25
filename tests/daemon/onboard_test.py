#!/usr/bin/python3
"""onboard_test.py - the onboarding gate: p11dkimd signs only for live
institutions.

Setup makes three institutions the way an operator does (init-token,
generate: pending) and promotes them with check-dns --promote.  Checks: a
new institution's state file says pending and the log has the step; live
signs; `demote` and a reload: the native front refuses with PERMFAIL and
the reason naming the CNAME, the milter lets the mail through unsigned
(its policy for permanent failures) and logs the reason; STATS shows
p11dkim_institution_live 0, one series per institution; sign-pending =
true (the institution's, then the top-level default) signs; check-dns
--promote refuses a zone without the CNAME and one with another key,
naming the record, and leaves the institution pending; with the right
zone it promotes, and a reload signs again; the same against a DNS server
on loopback (--resolver); an institution without a state file (set up
before the gate) signs.  Every signature made is verified by dkimpy.

Run through tests/integration/run.sh (P11DKIM_TEST_DIR).
Last line: "onboard-test: N passed, M failed".
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11env import *  # noqa: E402,F401,F403
from dnsfixture import DnsFixture  # noqa: E402

HOSTS = '\tmilter-hosts = { "127.0.0.1", "::1" }\n'
PENDING = ("institution mosa is pending: CNAME stxsel1._domainkey.mosamuseum.com not "
           "confirmed; run p11dkim-keys check-dns mosa --promote")
STATE = os.path.join(T, "state", "mosa.state")


def conf(mosa="", top=""):
    write_conf(extra={"mosa": HOSTS + mosa, "venue": HOSTS, "gala": HOSTS}, top=top,
               milter='\ton-token-failure = "accept"\n')


def message(domain="mosamuseum.com"):
    return (b"From: Office <office@%s>\r\nTo: a@example.org\r\nSubject: gate\r\n"
            b"Message-ID: <%f@example>\r\n\r\nHello.\r\n" % (domain.encode(), time.time()))


def signs(table, domain="mosamuseum.com"):
    msg = message(domain)
    status, field = sign(msg)
    return status.startswith("OK") and dkimpy_ok(field + msg, table), status


def reload(d):
    """SIGHUP until a reload is done; one refused while the fronts of an
    earlier reload still drain is tried again."""
    done = log_text().count("configuration reloaded")
    for _ in range(30):
        draining = log_text().count("still draining")
        d.p.send_signal(signal.SIGHUP)
        if wait_for(lambda: log_text().count("configuration reloaded") > done or
                    log_text().count("still draining") > draining, 30) and \
                log_text().count("configuration reloaded") > done:
            return wait_for(Daemon.answers, 10)
        time.sleep(1)
    return False


def live_metric(inst):
    m = re.search(r'^p11dkim_institution_live\{front="native",institution="%s"\} (\d)$' % inst, stats_text(), re.M)
    return int(m.group(1)) if m else None


MILTER_SCRIPT = """
conn = mt.connect("unix:%(sock)s")
if conn == nil then error("connect") end
if mt.conninfo(conn, "localhost", "127.0.0.1") ~= nil then error("conninfo") end
if mt.mailfrom(conn, "office@mosamuseum.com") ~= nil then error("mailfrom") end
if mt.header(conn, "From", " Office <office@mosamuseum.com>") ~= nil then error("header") end
if mt.bodystring(conn, "Hello.\\r\\n") ~= nil then error("body") end
if mt.eom(conn) ~= nil then error("eom") end
r = mt.getreply(conn)
if mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature") then print("SIGNED")
elseif r == SMFIR_ACCEPT then print("ACCEPT unsigned")
elseif r == SMFIR_TEMPFAIL then print("TEMPFAIL")
else print("reply " .. r) end
mt.disconnect(conn)
"""


def milter_says():
    path = os.path.join(T, "gate.lua")
    with open(path, "w") as f:
        f.write(MILTER_SCRIPT % {"sock": MILTER})
    r = subprocess.run(["miltertest", "-s", path], capture_output=True, text=True, timeout=60)
    return (r.stdout + r.stderr).strip()


def new_institution_cases():
    log = keys("log", "show").stdout
    check("init-token of a new institution is logged as onboard-pending, then promote",
          re.search(r"action\s+onboard-pending\s+institution\s+mosa", log) is not None and
          re.search(r"action\s+promote\s+institution\s+mosa", log) is not None, log[-2000:])
    check("the state file says live after the promote", "onboarding=live" in open(STATE).read())
    out = keys("list", "mosa").stdout
    check("list shows the active key live", "active, live" in out, out)


def pending_cases(d, table):
    r = keys("demote", "mosa")
    check("demote mosa", r.returncode == 0 and "onboarding=pending" in open(STATE).read(),
          r.stdout + r.stderr)
    out = keys("--json", "list", "mosa").stdout
    check("list --json shows pending", '"state":"pending"' in out, out)
    check("reload after demote", reload(d), log_text()[-500:])
    status, _ = sign(message())
    check("native: pending refuses with PERMFAIL and the reason", status == "PERMFAIL " + PENDING, status)
    check("native: a live institution signs meanwhile", signs(table, "venue.example.org")[0])
    check("STATS: mosa live 0, venue live 1", live_metric("mosa") == 0 and live_metric("venue") == 1)
    check("STATS: one live series per institution",
          len(re.findall(r"^p11dkim_institution_live\{", stats_text(), re.M)) == 3)
    out = milter_says()
    check("milter: pending passes unsigned (a permanent failure)", out == "ACCEPT unsigned", out)
    check("milter: the reason is logged", "reason=" + PENDING in log_text())


def sign_pending_cases(d, table):
    conf(mosa="\tsign-pending = true\n")
    check("reload with sign-pending = true for mosa", reload(d))
    ok, status = signs(table)
    check("sign-pending = true (institution) signs a pending institution", ok, status)
    check("STATS: still pending while it signs", live_metric("mosa") == 0)
    conf(top="sign-pending = true\n")
    check("reload with sign-pending = true at the top", reload(d))
    ok, status = signs(table)
    check("sign-pending = true (default) signs", ok, status)
    conf(mosa="\tsign-pending = false\n", top="sign-pending = true\n")
    check("reload with the default on and mosa's off", reload(d))
    status, _ = sign(message())
    check("the institution's sign-pending = false wins", status == "PERMFAIL " + PENDING, status)
    conf()
    check("reload with no sign-pending", reload(d))


def zone_cases(d, table):
    good = open(zone_of("mosa")).read()
    bad = os.path.join(T, "bad.zone")
    with open(bad, "w") as f:
        f.write(re.sub(r"(?m)^stxsel2\._domainkey\.mosamuseum\.com.*CNAME.*$", "", good))
    r = keys("check-dns", "mosa", "--promote", "--zone", bad)
    check("--promote with a zone without the stxsel2 CNAME refuses, naming it",
          r.returncode == 1 and "refusing to promote mosa: CNAME stxsel2._domainkey.mosamuseum.com: "
          "missing" in r.stderr, r.stdout + r.stderr)
    venue_key = re.search(r'IN TXT \((.*?)\)', open(zone_of("venue")).read(), re.S).group(1)
    with open(bad, "w") as f:
        f.write(re.sub(r"(?s)IN TXT \(.*?\)", "IN TXT (" + venue_key.replace("\\", "\\\\") + ")", good, 1))
    r = keys("check-dns", "mosa", "--promote", "--zone", bad)
    check("--promote with another key published refuses, naming the TXT",
          r.returncode == 1 and "refusing to promote mosa: TXT sel1-mosa._domainkey.dkim.example.net: "
          "mismatch" in r.stderr, r.stdout + r.stderr)
    check("still pending after the refusals", "onboarding=pending" in open(STATE).read())
    r = keys("preflight", "mosa", "--zone", zone_of("mosa"))
    check("preflight says the institution is pending, and how to promote it",
          re.search(r"^mosa +live +warn +pending: the daemon refuses its mail until p11dkim-keys "
                    r"check-dns mosa --promote", r.stdout, re.M), r.stdout + r.stderr)
    r = keys("check-dns", "mosa", "--promote", "--zone", zone_of("mosa"))
    check("--promote with the right zone", r.returncode == 0 and "mosa is live" in r.stdout, r.stderr)
    r = keys("preflight", "mosa", "--zone", zone_of("mosa"))
    check("preflight after the promote: live", re.search(r"^mosa +live +ok +live", r.stdout, re.M),
          r.stdout + r.stderr)
    status, _ = sign(message())
    check("no reload yet: still refused (the daemon reads the state at reload)",
          status == "PERMFAIL " + PENDING, status)
    check("reload after promote", reload(d))
    ok, status = signs(table)
    check("a reload after promote signs", ok, status)
    check("STATS: mosa live 1", live_metric("mosa") == 1)


def resolver_cases(d, table):
    keys("demote", "mosa")
    dns = DnsFixture()
    try:
        good = open(zone_of("mosa")).read()
        dns.load(good)
        dns.remove("sel1-mosa._domainkey.dkim.example.net", "TXT")
        r = keys("--resolver", dns.address, "check-dns", "mosa", "--promote")
        check("loopback DNS without the key record: --promote refuses, naming the TXT",
              r.returncode == 1 and "TXT sel1-mosa._domainkey.dkim.example.net: missing" in r.stderr,
              r.stdout + r.stderr)
        check("the queries went to the loopback server", dns.count() > 0)
        dns.load(good)
        r = keys("--resolver", dns.address, "check-dns", "mosa", "--promote")
        check("loopback DNS with the records: promoted", r.returncode == 0, r.stdout + r.stderr)
    finally:
        dns.stop()
    r = keys("--resolver", "127.0.0.1:99999", "check-dns", "mosa")
    check("--resolver with a bad port is refused", r.returncode == 64 and "port" in r.stderr, r.stderr)
    check("reload", reload(d))
    ok, status = signs(table)
    check("signs after the promotion through DNS", ok, status)


def upgrade_cases(d, table):
    keys("demote", "mosa")
    os.unlink(STATE)
    check("reload with no state file for mosa (set up before the gate)", reload(d))
    ok, status = signs(table)
    check("upgrade: no state file signs", ok, status)
    check("STATS: no state file is live", live_metric("mosa") == 1)


def main():
    setup(milter='\ton-token-failure = "accept"\n')
    conf()
    table, _ = keytable()
    new_institution_cases()
    d = Daemon(milter=True)
    try:
        ok, status = signs(table)
        check("live signs", ok, status)
        check("STATS: every institution live", [live_metric(i) for i in ("mosa", "venue", "gala")] == [1, 1, 1])
        pending_cases(d, table)
        sign_pending_cases(d, table)
        zone_cases(d, table)
        resolver_cases(d, table)
        upgrade_cases(d, table)
    finally:
        if d.p.poll() is None:
            d.stop()
    sys.exit(summary("onboard-test"))


if __name__ == "__main__":
    main()
