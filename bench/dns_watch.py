#!/usr/bin/python3
"""dns_watch.py - p11dkim-keys dns-watch over many institutions against
the tests' loopback DNS server (tests/daemon/dnsfixture.py, which counts
queries with the kernel's receive times).

    bench/dns_watch.py [N] [RATE]      (defaults: 10000 institutions, 300/s)

N institutions, one domain each, no token (dns-watch loads no PKCS#11
module) and no ceremony log: every CNAME is checked (2 a institution), and
every institution ends as key-unknown, so no key record is asked.  The
baseline is the rate itself: the queries should span N * 2 / RATE
seconds at the server, never less, and no second should see more than
RATE of them.  Prints that span and its ratio to the baseline, the
largest number of queries in one second, the whole run's time (which
adds reading the configuration and, since every institution drifts here,
one atomic, synced state file write each: drift first seen), and the
tool's CPU time and peak RSS.
"""
import os
import resource
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "daemon"))
from dnsfixture import DnsFixture  # noqa: E402

BUILD = os.path.join(TOP, os.environ.get("BUILD", "build"))


def conf(d, n):
    parts = ['pkcs11-module = "/nonexistent.so"\nprovider-zone = "dkim.example.net"\n'
             'record-name = "sel%%n-%%c"\nselectors = { "stxsel1", "stxsel2" }\n'
             'state-dir = "%s"\nceremony-log = "%s/ceremony.log"\n' % (d, d)]
    zone = []
    for i in range(n):
        code = "i%05d" % i
        parts.append('institution %s {\n\tdomains = { "%s.example" }\n\tpin = "prompt"\n'
                     '\tactive-selector = "stxsel1"\n}\n' % (code, code))
        for s in (1, 2):
            zone.append("stxsel%d._domainkey.%s.example. 300 IN CNAME sel%d-%s._domainkey.dkim.example.net.\n"
                        % (s, code, s, code))
    path = os.path.join(d, "p11dkim.conf")
    with open(path, "w") as f:
        f.write("".join(parts))
    return path, "".join(zone)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    with tempfile.TemporaryDirectory() as d:
        path, zone = conf(d, n)
        dns = DnsFixture()
        try:
            dns.load(zone)
            start = time.monotonic()
            r = subprocess.run([os.path.join(BUILD, "p11dkim-keys"), "-c", path, "--operator", "bench",
                                "--resolver", dns.address, "dns-watch", "--rate", str(rate),
                                "--concurrency", "8", "--metrics", os.path.join(d, "drift.prom")],
                               capture_output=True, text=True)
            took = time.monotonic() - start
            times = dns.times()
        finally:
            dns.stop()
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    want = 2 * n / rate
    per_sec = {}
    for t in times:
        per_sec[int(t)] = per_sec.get(int(t), 0) + 1
    print("dns-watch: %d institutions, %d queries at the server (%d expected), exit %d"
          % (n, len(times), 2 * n, r.returncode))
    print("  %s" % r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "  (no output)")
    span = max(times) - min(times) if times else 0
    print("  queries spanned %.1f s at the server, baseline %.1f s (rate %d/s): ratio %.2f"
          % (span, want, rate, span / want))
    print("  the whole run: %.1f s (with %d state files written: drift first seen)" % (took, n))
    print("  most queries in one second at the server: %d (rate %d)" % (max(per_sec.values() or [0]), rate))
    print("  p11dkim-keys CPU %.2f s, peak RSS %.1f MiB" % (use.ru_utime + use.ru_stime, use.ru_maxrss / 1024))


if __name__ == "__main__":
    main()
