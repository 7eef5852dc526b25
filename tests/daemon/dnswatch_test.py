#!/usr/bin/python3
"""dnswatch_test.py - p11dkim-keys dns-watch against a DNS server on
loopback (tests/daemon/dnsfixture.py) whose records change under it.

The three institutions of p11env are set up and promoted; the fixture
serves their CNAMEs and key records.  Checks: a run finds no drift and
writes p11dkim_dns_drift 0 for each; the rate limit holds, counted at the
server (no more than --rate queries in any second, the run as long as
the rate makes it), and --spread stretches a run; running every period,
a removed CNAME and a key record holding another key are each reported
within one period, with their reason, and recorded in the state; after
--demote-after the two are demoted to pending (state and ceremony log),
the third stays live; drift that goes away before the grace period is
forgotten; a resolver that does not answer is reported as lookup-failed
and demotes nobody.

Run through tests/integration/run.sh (P11DKIM_TEST_DIR).
Last line: "dnswatch-test: N passed, M failed".
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

METRICS = os.path.join(T, "textfile", "p11dkim_dns.prom")
INSTS = ("mosa", "venue", "gala")


def state(inst):
    return open(os.path.join(T, "state", inst + ".state")).read()


def drift():
    """institution -> (reason, value) from the textfile."""
    try:
        text = open(METRICS).read()
    except OSError:
        return {}
    return {m.group(1): (m.group(2), int(m.group(3))) for m in re.finditer(
        r'^p11dkim_dns_drift\{institution="([^"]*)",reason="([^"]*)"\} (\d)$', text, re.M)}


def watch(dns, *args):
    return keys("--resolver", dns.address, "dns-watch", "--metrics", METRICS, *args)


def max_in_a_second(times):
    return max(sum(1 for u in times if t <= u < t + 1) for t in times)


def rate_cases(dns, zones):
    dns.load(zones)
    before = dns.count()
    start = time.monotonic()
    r = watch(dns, "--rate", "4", "--concurrency", "4")
    took = time.monotonic() - start
    got = dns.count() - before
    times = dns.times()[before:]
    check("a run over a good zone: no drift", r.returncode == 0 and
          drift() == {i: ("ok", 0) for i in INSTS}, r.stdout + r.stderr + str(drift()))
    check("the server counted the queries the run reports (%d)" % got,
          got == 12 and "12 queries" in r.stdout, r.stdout)
    check("rate 4/s: at most 4 queries reach the server in any second (%d)" % max_in_a_second(times),
          max_in_a_second(times) <= 4 + 1)
    check("rate 4/s: 12 queries take at least 2.75 s (%.2f s)" % (times[-1] - times[0]),
          times[-1] - times[0] >= 2.7 and took >= 2.7)
    before = dns.count()
    r = watch(dns, "--rate", "100", "--spread", "6")
    times = dns.times()[before:]
    check("--spread 6: the 12 queries are spread over the period (%.2f s)" % (times[-1] - times[0]),
          r.returncode == 0 and 5.0 <= times[-1] - times[0] <= 9, r.stdout + r.stderr)


def drift_cases(dns, zones):
    dns.load(zones)
    venue_key = re.search(r'IN TXT \((.*?)\)', open(zone_of("venue")).read(), re.S).group(1)
    p = subprocess.Popen([os.path.join(BUILD, "p11dkim-keys"), "-c", CONF, "--operator", "test",
                          "--resolver", dns.address, "dns-watch", "--metrics", METRICS,
                          "--rate", "50", "--every", "2", "--demote-after", "5"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        check("every 2 s: the first run finds no drift",
              wait_for(lambda: drift() == {i: ("ok", 0) for i in INSTS}, 20), str(drift()))
        dns.remove("stxsel2._domainkey.venue.example.org", "CNAME")
        bad = re.sub(r"(?s)(sel1-mosa\._domainkey\S* IN TXT )\(.*?\)", lambda m: m.group(1) + "(" + venue_key + ")",
                     zones, 1)
        dns.load(re.sub(r"(?m)^stxsel2\._domainkey\.venue\.example\.org.*CNAME.*$", "", bad))
        changed = time.monotonic()
        seen = wait_for(lambda: drift().get("venue") == ("cname-missing", 1) and
                        drift().get("mosa") == ("key-mismatch", 1), 10)
        took = time.monotonic() - changed
        check("a removed CNAME and another key are reported within one period (%.1f s)" % took,
              seen and took <= 2 + 1.5, str(drift()))
        check("gala stays without drift", drift().get("gala") == ("ok", 0))
        check("the state records when the drift was first seen",
              "drift-since=" in state("venue") and "drift-reason=cname-missing" in state("venue") and
              "drift-reason=key-mismatch" in state("mosa") and "onboarding=live" in state("venue"))
        check("after --demote-after 5 s, both are demoted to pending",
              wait_for(lambda: "onboarding=pending" in state("venue") and
                       "onboarding=pending" in state("mosa"), 15), state("venue") + state("mosa"))
        check("gala stays live", "onboarding=live" in state("gala"))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
    check("SIGTERM ends the watch", p.returncode is not None and p.returncode != -9)
    check("the drift is logged", "venue: cname-missing: CNAME stxsel2._domainkey.venue.example.org "
          "missing" in err and "mosa: key-mismatch" in err, err[-1500:])
    log = keys("log", "show").stdout
    check("the demotions are in the ceremony log",
          re.search(r"action\s+dns-watch-demote\s+institution\s+venue", log) is not None and
          re.search(r"action\s+dns-watch-demote\s+institution\s+mosa", log) is not None, log[-1500:])
    out = keys("list", "venue").stdout
    check("list shows venue pending", "active, pending" in out, out)


def clear_and_outage_cases(dns, zones):
    dns.load(zones)
    dns.remove("ed1-gala._domainkey.dkim.example.net", "TXT")
    r = watch(dns, "--demote-after", "3600")
    check("gala's Ed25519 record removed: txt-missing, recorded",
          r.returncode == 1 and drift().get("gala") == ("txt-missing", 1) and
          "drift-reason=txt-missing" in state("gala"), r.stderr + str(drift()))
    check("demoted institutions are not watched", set(drift()) == {"gala"}, str(drift()))
    dns.load(zones)
    r = watch(dns, "--demote-after", "3600")
    check("the record back: drift forgotten before the grace period",
          r.returncode == 0 and drift().get("gala") == ("ok", 0) and "drift-since" not in state("gala")
          and "onboarding=live" in state("gala"), r.stderr + state("gala"))
    dns.stop()
    r = keys("--resolver", dns.address, "dns-watch", "--metrics", METRICS, "--demote-after", "0")
    check("no resolver answering: lookup-failed, not drift",
          r.returncode == 0 and drift().get("gala") == ("lookup-failed", 1), r.stdout + r.stderr + str(drift()))
    check("a failed lookup demotes nobody and records nothing",
          "onboarding=live" in state("gala") and "drift-since" not in state("gala"))


def main():
    setup()
    os.makedirs(os.path.dirname(METRICS), exist_ok=True)
    zones = "".join(open(zone_of(i)).read() for i in INSTS)
    dns = DnsFixture()
    try:
        rate_cases(dns, zones)
        drift_cases(dns, zones)
        clear_and_outage_cases(dns, zones)
    finally:
        dns.stop()
    sys.exit(summary("dnswatch-test"))


if __name__ == "__main__":
    main()
