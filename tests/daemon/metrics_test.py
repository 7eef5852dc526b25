#!/usr/bin/python3
"""metrics_test.py - what operators watch and drive: the metrics
listener (metrics-listen) answering GET /metrics with both fronts'
counters in one scrape, parsed by prometheus_client and checked against
the requests made; its refusals (404, 405, 431, 503), a slow or
oversized request that does not hold a second scrape, and a
non-loopback address refused unless allowed; STATS and the milter's
stats-file, every sample labelled by its front, readable side by side;
the reload counters; the milter socket of a previous configuration
removed after a reload that moves it.  The fronts run as nobody inside
their filters.

Run through tests/integration/run.sh.  Last line:
"metrics-test: N passed, M failed".
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import time

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "milter"))
from p11env import *  # noqa: E402,F401,F403
import milter_test  # noqa: E402

# The fronts as nobody, the signer as root (who owns the tokens).
USERS = 'user = "nobody"\n' + ONE_USER
MILTER_OPTS = "\tsingle-tenant = true\n"
MILTER2 = os.path.join(T, "milter2.sock")
STATS_FILE = os.path.join(T, "stats", "milter.prom")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PORT = free_port()
TOP = 'metrics-listen = "127.0.0.1:%d"\n' % PORT
PIDFILE = os.path.join(T, "p11dkimd.pid")
FOURTH = """institution fourth {
	domains = { "fourth.example" }
	pin = "file:%s/fourth.pin"
	active-selector = "stxsel1"
	allow-uids = { "%d" }
}
""" % (T, os.getuid())
MILTER_OPTS += '\tstats-file = "%s"\n' % STATS_FILE


def get(path, method="GET", timeout=10):
    """(status, body) of one request to the metrics listener."""
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    c.request(method, path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def samples(text):
    """{(name, sorted labels): value} of an exposition text."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))))


def scrape_values(n_native, n_milter):
    """One scrape: both fronts' counters, the signer's figures once."""
    status, text = get("/metrics")
    check("GET /metrics: 200", status == 200, status)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    found = samples(text)
    for front, n in (("native", n_native), ("milter", n_milter)):
        got = value(found, "p11dkim_requests_total", front=front, institution="mosa", result="signed")
        check("requests counted for the %s front" % front, got == n, (got, n))
        got = value(found, "p11dkim_request_seconds_count", front=front)
        check("%s front: the histogram counts every request" % front, got == n, (got, n))
        got = value(found, "p11dkim_request_seconds_bucket", front=front, le="+Inf")
        check("%s front: its +Inf bucket too" % front, got == n, (got, n))
    for inst in ("mosa", "venue", "gala"):
        check("institution_up of %s: 1" % inst,
              value(found, "p11dkim_institution_up", institution=inst) == 1, text[:600])
    version = subprocess.run([os.path.join(BUILD, "p11dkimd"), "--version"], capture_output=True,
                             text=True).stdout.split()[1]
    check("build_info carries --version's version",
          value(found, "p11dkim_build_info", version=version) == 1, version)
    check("quota and token error series are there",
          value(found, "p11dkim_quota_refusals_total", institution="mosa", limit="rate") == 0 and
          value(found, "p11dkim_token_errors_total", front="milter", institution="mosa") == 0)
    for kind in ("HELP", "TYPE"):
        names = [l.split()[2] for l in text.splitlines() if l.startswith("# %s " % kind)]
        check("one %s line per family" % kind, len(names) == len(set(names)) == len(families) and
              "p11dkim_requests_total" in names, names)
    return found


def refusals():
    """Other paths and methods; a request too large or too slow."""
    check("GET /other: 404", get("/other")[0] == 404)
    check("POST /metrics: 405", get("/metrics", method="POST")[0] == 405)
    check("GET /-/healthy: 200", get("/-/healthy")[0] == 200)
    slow = socket.create_connection(("127.0.0.1", PORT))
    slow.sendall(b"GET /metrics HTTP/1.1\r\n")          # and nothing more
    big = socket.create_connection(("127.0.0.1", PORT))
    try:
        big.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
    except OSError:
        pass
    t = time.monotonic()
    try:
        status, _ = get("/metrics", timeout=3)
    except OSError as e:
        status = e
    check("a slow and an oversized request do not hold a second scrape",
          status == 200 and time.monotonic() - t < 2, time.monotonic() - t)
    big.settimeout(5)
    check("the oversized request: 431", big.recv(100).startswith(b"HTTP/1.1 431"))
    slow.settimeout(10)
    check("the slow request: 408 at its deadline", slow.recv(100).startswith(b"HTTP/1.1 408"))
    slow.close()
    big.close()
    idle = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(4)]
    time.sleep(0.5)
    status = get("/metrics")[0]
    check("beyond 4 connections at once: 503 at once", status == 503, status)
    for s in idle:
        s.close()
    check("then scrapes again", wait_for(lambda: get("/metrics")[0] == 200, 5))


def loopback_only():
    """A non-loopback address is refused unless metrics-allow-remote."""
    conf = open(CONF).read()
    path = os.path.join(T, "remote.conf")
    for addr, allow, ok in (("192.0.2.1:9464", "", False), ("0.0.0.0:9464", "", False),
                            ("[::]:9464", "", False), ("[::1]:9464", "", True),
                            ("0.0.0.0:9464", "metrics-allow-remote = true\n", True),
                            ("localhost:9464", "", False)):
        with open(path, "w") as f:
            f.write(conf.replace(TOP, 'metrics-listen = "%s"\n%s' % (addr, allow)))
        r = subprocess.run([os.path.join(BUILD, "p11dkimd"), "-n", "-c", path],
                           capture_output=True, text=True)
        refused = "metrics-listen" in r.stderr and r.returncode != 0
        check("metrics-listen %s %s: %s" % (addr, allow.strip(), "taken" if ok else "refused"),
              refused != ok, r.stderr)


def reloaded(d, before, **conf):
    """A new configuration; true once the parent says it took it."""
    write_conf(users=USERS, top=TOP + 'pidfile = "%s"\n' % PIDFILE, **conf)
    d.p.send_signal(signal.SIGHUP)
    return wait_for(lambda: log_text().count("configuration reloaded") > before, 30)


def milter_socket_moves(d):
    """A reload that moves the milter socket removes the old file."""
    before = log_text().count("configuration reloaded")
    check("reload: the milter moves to another socket",
          reloaded(d, before, milter=MILTER_OPTS, milter_path=MILTER2) and
          wait_for(lambda: os.path.exists(MILTER2), 10), log_text()[-800:])
    milter_test.MILTER = MILTER2
    check("the milter signs on its new socket", wait_for(
        lambda: milter_test.run("mosamuseum.com") == "SIGNED", 10))
    check("the old milter socket is removed once its front stopped",
          wait_for(lambda: not os.path.exists(MILTER), 15),
          log_text()[-800:])


def ctl(*args):
    return subprocess.run([os.path.join(BUILD, "p11dkim-ctl"), "-c", CONF] + list(args),
                          capture_output=True, text=True, timeout=120)


def ctl_cases(d):
    """p11dkim-ctl status, stats and reload (taken, refused twice)."""
    r = ctl("status")
    check("ctl status: running, its pid, 3 institutions up", r.returncode == 0 and
          "running (pid %d)" % d.p.pid in r.stdout and "3 up, 0 down, 0 pending" in r.stdout,
          r.stdout + r.stderr)
    r = ctl("stats")
    found = samples(r.stdout) if r.returncode == 0 else {}
    check("ctl stats: the counters of STATS",
          value(found, "p11dkim_requests_total", front="native", institution="mosa", result="signed") == 3,
          r.stdout[:300] + r.stderr)
    with open(os.path.join(T, "fourth.pin"), "w") as f:
        f.write("fourth-pin-1234567\n")
    write_conf(milter=MILTER_OPTS, users=USERS, top=TOP + 'pidfile = "%s"\n' % PIDFILE)
    with open(CONF, "a") as f:
        f.write(FOURTH)
    for step in (("init-token", "fourth", "--so-pin", "file:%s/so.pin" % T, "--pin",
                  "file:%s/fourth.pin" % T), ("generate", "fourth")):
        r = keys(*step)
        check("p11dkim-keys %s fourth" % step[0], r.returncode == 0, r.stderr)
    r = ctl("reload")
    check("ctl reload with a new institution: taken", r.returncode == 0 and "reload taken" in r.stdout,
          r.stdout + r.stderr + log_text()[-600:])
    check("then status shows 4 institutions up", wait_for(
        lambda: "4 up, 0 down" in ctl("status").stdout, 30), ctl("status").stdout)
    write_conf(milter=MILTER_OPTS, users=USERS, top=TOP + 'pidfile = "%s"\n' % PIDFILE, broken=True)
    r = ctl("reload")
    check("ctl reload of a broken file: refused, not signalled", r.returncode == 1 and
          "reload refused" in r.stdout and "no such option" in r.stderr, r.stdout + r.stderr)
    # Loads, but the daemon refuses it: the fronts would run as root.
    write_conf(milter=MILTER_OPTS, users="", top=TOP + 'pidfile = "%s"\n' % PIDFILE)
    r = ctl("reload")
    check("ctl reload the daemon refuses: reported refused", r.returncode == 1 and
          "reload refused" in r.stdout and "reload refused" in log_text(), r.stdout + r.stderr)
    found = samples(get("/metrics")[1])
    check("the counters: one reload taken, one refused, generation 2",
          value(found, "p11dkim_reloads_total", result="success") == 1 and
          value(found, "p11dkim_reloads_total", result="failure") == 1 and
          value(found, "p11dkim_config_generation") == 2, found)


def stats_side_by_side(stats_text_native):
    """STATS and the stats-file: every sample labelled, none in both."""
    milter_text = open(STATS_FILE).read() if os.path.exists(STATS_FILE) else ""
    native, milter = samples(stats_text_native), samples(milter_text)
    check("STATS: every sample has front=\"native\"", native and
          all(dict(k[1]).get("front") == "native" for k in native), stats_text_native[:300])
    check("stats-file: every sample has front=\"milter\"", milter and
          all(dict(k[1]).get("front") == "milter" for k in milter), milter_text[:300])
    check("no sample in both (node_exporter's textfile collector takes both)",
          not set(native) & set(milter))
    help_lines = [l for l in milter_text.splitlines() if l.startswith("# ")]
    check("the same HELP and TYPE lines in both", all(l in stats_text_native for l in help_lines))


def main():
    os.makedirs(os.path.join(T, "stats"))
    os.chown(os.path.join(T, "stats"), 65534, 65534)
    setup(milter=MILTER_OPTS)
    write_conf(milter=MILTER_OPTS, users=USERS, top=TOP)
    loopback_only()
    write_conf(milter=MILTER_OPTS, users=USERS, top=TOP + 'pidfile = "%s"\n' % PIDFILE)
    table, _ = keytable()
    d = Daemon(milter=True)
    try:
        msg = b"From: a@mosamuseum.com\r\nTo: b@example.com\r\nSubject: m\r\n\r\nHello.\r\n"
        native = [sign(msg) for _ in range(3)]
        check("the native front signs", all(st.startswith("OK ") and dkimpy_ok(p + msg, table)
                                            for st, p in native), native)
        check("the milter signs", all(milter_test.run("mosamuseum.com") == "SIGNED" for _ in range(2)))
        scrape_values(3, 2)
        refusals()
        found = samples(get("/metrics")[1])
        check("reload counters: none yet, generation 1",
              value(found, "p11dkim_reloads_total", result="success") == 0 and
              value(found, "p11dkim_config_generation") == 1)
        ctl_cases(d)
        milter_socket_moves(d)
        found = samples(get("/metrics")[1])
        check("after the next reload: two taken, generation 3",
              value(found, "p11dkim_reloads_total", result="success") == 2 and
              value(found, "p11dkim_config_generation") == 3, found)
        last_stats = stats_text()
        rc = d.stop()
        check("p11dkimd stops cleanly", rc == 0, rc)
        check("its milter socket is removed at stop", not os.path.exists(MILTER2))
        check("no front was killed by its filter", "killed by signal" not in log_text())
        check("no sanitizer report in the daemon's log (make check SAN=1)",
              "Sanitizer" not in log_text() and "runtime error" not in log_text())
        r = ctl("status")
        check("ctl status once stopped: not running (3)", r.returncode == 3 and "not running" in r.stdout,
              r.stdout + r.stderr)
        stats_side_by_side(last_stats)
    finally:
        if d.p.poll() is None:
            d.p.kill()
    sys.exit(summary("metrics-test"))


if __name__ == "__main__":
    main()
