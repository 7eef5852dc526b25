#!/usr/bin/python3
"""milter_test.py - the milter front of p11dkimd driven by miltertest.

Signed messages (a header inserted), mail for foreign domains and from
untrusted clients passed unchanged, authenticated senders signed from
anywhere, a dual-signing institution, and tempfail while the token is
gone (then signing again).  Who may sign for which institution: each
institution's milter-hosts and milter-logins (a login or a host of one
institution never gets another's signature), an institution that lists
neither (nobody, unless single-tenant = true), and signing-domain =
"auth" with a login without a domain (unsigned, never chosen by From).
Each message's log line: the MTA's queue ID (the "i" macro), d= and
every selector; mail passed as not ours (foreign domain, untrusted
client, not authorized) at info level, "unsigned ... reason=".  The
fronts run as nobody, and a forbidden system call kills the milter
front (restarted).  Signatures made through a real Postfix are verified
in tests/milter/postfix_test.sh.

Run through tests/integration/run.sh.  Last line:
"milter-test: N passed, M failed".
"""
import itertools
import os
import re
import signal
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "daemon"))
from p11env import *  # noqa: E402,F401,F403

SCRIPT = """
conn = mt.connect("unix:%(sock)s")
if conn == nil then error("connect") end
if mt.conninfo(conn, "%(host)s", "%(addr)s") ~= nil then error("conninfo") end
-- p11dkimd negotiates SMFIP_NOHELO, SMFIP_NORCPT and SMFIP_NOEOH: those
-- steps are skipped (miltertest refuses them), as an MTA skips them.  It
-- replies to MAIL, headers and body only when the MTA cannot do without
-- (SMFIP_NR_*): a message is decided at its end.
%(auth)s
if mt.mailfrom(conn, "sender@%(domain)s") ~= nil then error("mailfrom") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then print("not CONTINUE at MAIL"); mt.disconnect(conn); return end
if mt.header(conn, "From", " Sender <sender@%(from)s>") ~= nil then error("header") end
if mt.header(conn, "Subject", " milter test") ~= nil then error("header") end
if mt.bodystring(conn, "Hello from the milter test.\\r\\n") ~= nil then error("body") end
if mt.eom(conn) ~= nil then error("eom") end
r = mt.getreply(conn)
if mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature") then print("SIGNED")
elseif r == SMFIR_TEMPFAIL then print("TEMPFAIL at EOM")
elseif r == SMFIR_ACCEPT and not mt.eom_check(conn, MT_HDRINSERT) and
    not mt.eom_check(conn, MT_HDRADD) then print("ACCEPT unchanged")
else print("reply " .. r) end
mt.disconnect(conn)
"""

# An MTA that offers neither "no reply to MAIL" nor "no end-of-headers"
# (SMFIP_NR_MAIL, SMFIP_NOEOH): it offers NOHELO, NR_HDR, NOUNKNOWN,
# NODATA, NORCPT, NR_CONN, NR_BODY and HDR_LEADSPC (0x18138a), and the
# action ADDHDRS (1).  (miltertest's mt.negotiate takes the steps before
# the actions, whatever its manual says: checked on the wire.)  libmilter
# answers MAIL "continue" in the filter's place; unsigned mail is then
# accepted at the end of the headers.
OLD_MTA = """
conn = mt.connect("unix:%(sock)s")
if conn == nil then error("connect") end
if mt.negotiate(conn, 6, 0x18138a, 1) ~= nil then error("negotiate") end
if mt.conninfo(conn, "%(host)s", "%(addr)s") ~= nil then error("conninfo") end
%(auth)s
if mt.mailfrom(conn, "sender@%(domain)s") ~= nil then error("mailfrom") end
if mt.getreply(conn) == SMFIR_ACCEPT then print("ACCEPT at MAIL"); mt.disconnect(conn); return end
if mt.header(conn, "From", " Sender <sender@%(from)s>") ~= nil then error("header") end
if mt.eoh(conn) ~= nil then error("eoh") end
if mt.getreply(conn) == SMFIR_ACCEPT then print("ACCEPT at EOH"); mt.disconnect(conn); return end
if mt.bodystring(conn, "Hello from the milter test.\\r\\n") ~= nil then error("body") end
if mt.eom(conn) ~= nil then error("eom") end
r = mt.getreply(conn)
if mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature") then print("SIGNED")
else print("reply " .. r) end
mt.disconnect(conn)
"""


QUEUE_IDS = ("Q%04X" % n for n in itertools.count(1))
last_queue = None


def run(domain, host="localhost", addr="127.0.0.1", auth="", from_domain=None,
        script=SCRIPT, queue=None):
    """One message; its queue ID (the "i" macro at MAIL) in last_queue."""
    global last_queue
    last_queue = queue if queue is not None else next(QUEUE_IDS)
    macros = '"i", "%s"' % last_queue
    if auth:
        macros += ', "{auth_authen}", "%s"' % auth
    auth = 'mt.macro(conn, SMFIC_MAIL, %s)' % macros
    path = os.path.join(T, "case.lua")
    with open(path, "w") as f:
        f.write(script % {"sock": MILTER, "host": host, "addr": addr,
                          "auth": auth, "domain": domain, "from": from_domain or domain})
    r = subprocess.run(["miltertest", "-s", path], capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    return out if r.returncode == 0 else "%s (miltertest exit %d)" % (out, r.returncode)


def logged(queue=None):
    """The daemon's log line for the message with this queue ID."""
    queue = queue or last_queue
    lines = [ln for ln in log_text().splitlines() if re.search(r" queue=%s( |$)" % re.escape(queue), ln)]
    return lines[-1] if len(lines) == 1 else "%d lines for queue=%s" % (len(lines), queue)


def logged_info(desc, *fields):
    """The last message's line is at info level and has each field."""
    line = logged()
    check(desc, "]: warning: " not in line and "]: error: " not in line and
          all(f in line.split() or f in line for f in fields), line)


# A tenant's mailer on 10.1.2.0/24 (gala's), another client outside the
# internal hosts that authenticates.
TENANT = {"host": "gala-mailer.example", "addr": "10.1.2.7"}
OUTSIDE = {"host": "mx.example.com", "addr": "192.0.2.7"}
# Who may sign for which institution: mosa by loopback and two kinds of
# login, gala by its network, venue lists nobody.
LISTS = {
    "mosa": '\tmilter-hosts = { "127.0.0.1", "::1" }\n'
            '\tmilter-logins = { "alice", "*@mosamuseum.com" }\n',
    "gala": '\tmilter-hosts = { "10.1.2.0/24" }\n',
}
# The fronts as nobody, the signer as root (who owns the tokens).
USERS = 'user = "nobody"\n' + ONE_USER


def reload(d, milter, probe, desc):
    """A new configuration; waits until the new milter answers probe()."""
    before = log_text().count("configuration reloaded")
    write_conf(milter=milter, extra=LISTS, users=USERS)
    d.p.send_signal(signal.SIGHUP)
    for _ in range(100):
        time.sleep(0.1)
        if log_text().count("configuration reloaded") > before and probe():
            check(desc, True)
            return True
    check(desc, False, log_text()[-500:])
    return False


def authorization_cases():
    """Each institution's lists, with signing-domain = "from"."""
    out = run("gala.example.net", **TENANT)
    check("gala's network: gala signed (dual-signing)", out == "SIGNED", out)
    logged_info("logged: dual signing, both selectors and algorithms", "signed", "inst=gala",
                "d=gala.example.net", "s=stxsel1,stxed1", "alg=rsa-sha256,ed25519-sha256")
    out = run("mosamuseum.com", **TENANT)
    check("gala's network: mosa's mail passed unsigned", out == "ACCEPT unchanged", out)
    network_refused = logged()
    logged_info("logged at info: not authorized, unsigned, with d= and no selector",
                "unsigned", "inst=mosa", "d=mosamuseum.com", "s=-", "reason=not authorized:")
    out = run("venue.example.org")
    check("an institution that lists nobody: passed unsigned", out == "ACCEPT unchanged", out)
    out = run("mosamuseum.com", auth="alice", **OUTSIDE)
    check("login alice, listed for mosa: signed", out == "SIGNED", out)
    out = run("gala.example.net", auth="alice", **OUTSIDE)
    check("login alice with From gala: passed unsigned", out == "ACCEPT unchanged", out)
    login_refused = logged()
    out = run("gala.example.net", auth="alice", script=OLD_MTA, **OUTSIDE)
    check("MTA without NR_MAIL/NOEOH: login alice with From gala accepted at EOH",
          out == "ACCEPT at EOH", out)
    out = run("mosamuseum.com", auth="carol@MosaMuseum.com", **OUTSIDE)
    check("login *@mosamuseum.com (any case): signed", out == "SIGNED", out)
    out = run("mosamuseum.com", auth="carol@mosamuseum.com.evil.example", **OUTSIDE)
    check("login in another domain: passed unsigned", out == "ACCEPT unchanged", out)
    out = run("mosamuseum.com", auth="Alice", **OUTSIDE)
    check("logins are compared exactly: Alice is not alice", out == "ACCEPT unchanged", out)
    log = log_text()
    check("logged: a login refused for another institution",
          re.search(r"client=mx\.example\.com queue=Q\w+ reason=not authorized: the client is not in gala's "
                    "milter-hosts and login alice is not in its milter-logins$", login_refused), login_refused)
    check("logged: a network refused for another institution",
          re.search(r"client=gala-mailer\.example queue=Q\w+ reason=not authorized: the client is not in "
                    "mosa's milter-hosts and has no login$", network_refused), network_refused)
    check("logged: venue lists nobody",
          "reason=not authorized: venue lists no milter-hosts or milter-logins" in log)
    check("warned at start: venue lists nobody",
          "milter: institution venue lists no milter-hosts or milter-logins" in log)


def auth_mode_cases(d, milter):
    """signing-domain = "auth": the login's domain, and no fallback."""
    if not reload(d, milter + '\tsigning-domain = "auth"\n',
                  lambda: run("gala.example.net", auth="carol@mosamuseum.com",
                              **OUTSIDE) == "SIGNED",
                  "auth: login carol@mosamuseum.com signs for mosa whatever From says"):
        return
    out = run("mosamuseum.com", auth="alice", **OUTSIDE)
    check("auth: a login without a domain is not signed, even with an allowed From",
          out == "ACCEPT unchanged", out)
    check("logged: the login has no domain",
          "login=alice reason=its SASL login has no domain (signing-domain = auth)" in logged())
    out = run("mosamuseum.com", auth="eve@gala.example.net", **OUTSIDE)
    check("auth: a login of a domain that does not list it: unsigned",
          out == "ACCEPT unchanged", out)
    out = run("mosamuseum.com")
    check("auth: no login, an internal host: From decides, lists apply", out == "SIGNED", out)


def single_tenant_cases(d, milter):
    """single-tenant = true: institutions that list nobody, for all."""
    if not reload(d, milter + '\tsingle-tenant = true\n',
                  lambda: run("venue.example.org") == "SIGNED",
                  "single-tenant: an institution that lists nobody is signed for"):
        return
    out = run("mosamuseum.com", **TENANT)
    check("single-tenant: institutions with lists keep them", out == "ACCEPT unchanged", out)


def main():
    # The fronts run as nobody (the signer as root, who owns the tokens):
    # the milter writes its counters where nobody may, and at its stop
    # libmilter tries to remove its socket, all inside its filter.
    os.makedirs(os.path.join(T, "stats"))
    os.chown(os.path.join(T, "stats"), 65534, 65534)
    stats = os.path.join(T, "stats", "milter.prom")
    milter = '\tinternal-hosts = { "127.0.0.1", "::1", "10.1.2.0/24" }\n' \
        '\tstats-file = "%s"\n' % stats
    setup(milter=milter, extra=LISTS)
    write_conf(milter=milter, extra=LISTS, users=USERS)
    d = Daemon(milter=True)
    try:
        out = run("mosamuseum.com")
        check("internal host: signed (header inserted)", out == "SIGNED", out)
        logged_info("logged: signed, d=, s=, the client and the queue ID", "signed", "inst=mosa",
                    "d=mosamuseum.com", "s=stxsel1", "alg=rsa-sha256", "client=localhost")
        out = run("unknown.example")
        check("foreign domain: passed unchanged", out == "ACCEPT unchanged", out)
        logged_info("logged at info: foreign domain, unsigned", "unsigned", "inst=-", "d=-",
                    "reason=domain unknown.example is not signed here")
        out = run("mosamuseum.com", **OUTSIDE)
        check("untrusted client: passed unsigned", out == "ACCEPT unchanged", out)
        logged_info("logged at info: untrusted client, unsigned", "unsigned", "client=mx.example.com",
                    "reason=is not an internal host and did not authenticate")
        out = run("mosamuseum.com", queue="Q\\001 x\\n")
        check("a queue ID with a space and control bytes: signed", out == "SIGNED", out)
        check("logged: only its printable characters, still one line",
              "signed inst=mosa" in logged("Qx") and "\x01" not in log_text(), logged("Qx"))
        out = run("mosamuseum.com", queue="")
        check("no queue ID from the MTA: signed", out == "SIGNED", out)
        check("logged: queue=- when the MTA has none", "signed inst=mosa" in logged("-"), logged("-"))
        out = run("mosamuseum.com", script=OLD_MTA)
        check("MTA without NR_MAIL/NOEOH: signed", out == "SIGNED", out)
        out = run("unknown.example", script=OLD_MTA)
        check("MTA without NR_MAIL/NOEOH: foreign domain accepted at EOH",
              out == "ACCEPT at EOH", out)
        out = run("mosamuseum.com", script=OLD_MTA, **OUTSIDE)
        check("MTA without NR_MAIL/NOEOH: untrusted client accepted at EOH",
              out == "ACCEPT at EOH", out)
        authorization_cases()
        log = log_text()
        check("logged: signed by the milter", "signed inst=mosa" in log and "client=localhost" in log)
        check("logged: untrusted client passed", "is not an internal host" in log)
        check("logged: foreign domain passed", "domain unknown.example is not signed here" in log)
        store = os.path.join(T, "tokens")
        shutil.move(store, store + ".away")
        out = run("mosamuseum.com")
        check("token gone: tempfail (the MTA queues the mail)", out == "TEMPFAIL at EOM", out)
        line = logged()
        check("logged as a warning: tempfail with d= and s=", "]: warning: tempfail inst=mosa d=mosamuseum.com "
              "s=stxsel1 alg=rsa-sha256 " in line, line)
        shutil.move(store + ".away", store)
        ok = False
        for _ in range(50):
            if run("mosamuseum.com") == "SIGNED":
                ok = True
                break
            time.sleep(0.2)
        check("token back: signing again", ok)
        # Reload: the domain from the envelope sender; a new milter
        # takes over the socket.
        reload(d, milter + '\tsigning-domain = "envelope"\n',
               lambda: run("mosamuseum.com", from_domain="unknown.example") == "SIGNED",
               "after a reload: signing-domain = envelope signs by MAIL FROM")
        out = run("gala.example.net", from_domain="mosamuseum.com")
        check("envelope: MAIL FROM another institution's domain: unsigned",
              out == "ACCEPT unchanged", out)
        auth_mode_cases(d, milter)
        single_tenant_cases(d, milter)
        sandbox_kills(d, d.holder(MILTER), "milter front", "getpid",
                      lambda: run("mosamuseum.com") == "SIGNED")
        rc = d.stop()
        check("p11dkimd stops cleanly with a milter", rc == 0, rc)
        check("no process was killed by its filter but the one the test made",
              log_text().count("killed by signal 31") == 1, log_text()[-1000:])
        text = open(stats).read() if os.path.exists(stats) else ""
        check("the milter's counters are in its stats file",
              'p11dkim_requests_total{front="milter",institution="mosa",result="signed"}' in text, text[:300])
    finally:
        if d.p.poll() is None:
            d.p.kill()
    sys.exit(summary("milter-test"))


if __name__ == "__main__":
    main()
