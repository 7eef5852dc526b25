#!/usr/bin/python3
"""tenants.py - p11dkimd with many institutions, each on its own SoftHSM2
token: start, memory, reload, the ceremony tool, and the signing rate
spread over every institution against the rate of one, in the same run.

    bench/tenants.sh [-s 100,1000,10000] [-c CACHE] [-d SECONDS] [-q]

For each size N, a fixture of N+1 institutions (Ed25519 keys generated on
their tokens, one file each in an included folder) is built once by
build/bench/tenants_build and kept in CACHE (default ~/.cache/p11dkim-
tenants); institution N+1 is left out of the configuration, to be added
by a reload.  Then, with a daemon of its own in a throw-away folder:

  start     time from exec until the first institution signs (first_s);
            until each of 100 institutions the background openers reach
            last (the end of the configuration's order) has signed once,
            asked by 16 clients from exec on (late_s: a request logs its
            token in at once, ahead of the openers); until every
            institution is up (allup_s: STATS, every key logged in and
            checked by the background openers); then one request for each
            institution, by 8 clients, to show that every one signs
  rss, pss  the resident memory of every p11dkimd process, summed: RSS
            counts a page the fronts share with the parent (fork) in each
            process, PSS counts it once
  stats     the size of the STATS reply and the time to get it
  reload    add (institution N+1, whose token is there), remove, change
            (a domain added) one institution by a file and SIGHUP, each
            while load_bench signs for the other institutions: the time
            until the change shows, and the other requests that failed;
            the parent's own log line of each reload (files read, its
            time to read and to start the new generation) is printed
  keys      p11dkim-keys list (every institution's token) and dns for one
            (its public key record, vouched for by the fixture's ceremony
            log in CACHE/N/state: the module is not loaded)
  rate      load_bench, 8 clients, 4 KiB: requests spread over every
            institution against requests for one institution, alternated
            3 times (medians); the ratio is what the target is about

Prints one table; writes the figures to CACHE/results.txt and a plot of
the start time and memory against N to docs/tenants.png (gnuplot).  Every
figure is for this machine: the CPU is printed with them.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, os.environ.get("BUILD", "build"))
MOD = os.environ.get("P11DKIM_TEST_MODULE", "/usr/lib/softhsm/libsofthsm2.so")


def code(i):
    return "t%05d" % i


def msg(i, domain=None):
    d = (domain or "%s.example" % code(i)).encode()
    return (b"From: Box Office <tickets@%s>\r\nTo: a@example.org\r\nSubject: t\r\n"
            b"Message-ID: <%d@bench.example>\r\n\r\nYour ticket.\r\n" % (d, i))


def sign(sock, message):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(sock)
    s.sendall(b"SIGN\nDATA %d\n" % len(message) + message + b"END\n")
    f = s.makefile("rb")
    status = f.readline().decode().strip()
    if status.startswith("OK "):
        f.read(int(status[3:]))
    s.close()
    return status


def stats(sock):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(sock)
    s.sendall(b"STATS\n")
    f = s.makefile("rb")
    st = f.readline()
    body = f.read(int(st.split()[1])) if st.startswith(b"OK ") else b""
    s.close()
    return body.decode()


def wait_for(pred, seconds, step=0.05):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(step)
    return False


class Daemon:
    def __init__(self, t, fixture):
        self.t, self.sock = t, os.path.join(t, "p11dkimd.sock")
        self.conf = os.path.join(t, "p11dkim.conf")
        with open(self.conf, "w") as f:
            f.write("""pkcs11-module = "%s"
provider-zone = "dkim.example.net"
record-name = "sel%%n-%%c"
selectors = { "stxsel1", "stxsel2" }
state-dir = "%s/state"
ceremony-log = "%s/state/ceremony.log"
log = "stderr"
workers = 64
require-separate-users = false
include = "%s/institutions.d/*.conf"
listen "%s" { mode = "0666" }
""" % (MOD, fixture, fixture, fixture, self.sock))
        self.log = open(os.path.join(t, "daemon.log"), "ab")
        self.t0 = time.time()
        self.p = subprocess.Popen([os.path.join(BUILD, "p11dkimd"), "-f", "-c", self.conf],
                                  stdout=self.log, stderr=self.log)

    def pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.p.pid)], capture_output=True, text=True)
        return [self.p.pid] + [int(x) for x in out.stdout.split()]

    def mem_mib(self, field, path):
        """A field of /proc/PID/<path> summed over every process, in MiB."""
        total = 0
        for pid in self.pids():
            try:
                for line in open("/proc/%d/%s" % (pid, path)):
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def rss_mib(self):
        """RSS summed: a page the fronts share with the parent counts in each."""
        return self.mem_mib("VmRSS", "status")

    def pss_mib(self):
        """PSS summed: each shared page counts once in all."""
        return self.mem_mib("Pss", "smaps_rollup")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=120)


def load_bench(sock, tenants, seconds, conns=8, first=0):
    """load_bench's result line as a dict; tenants: how many, from 1."""
    args = [os.path.join(BUILD, "bench/load_bench"), "-s", sock, "-c", str(conns),
            "-m", "4k", "-d", str(seconds), "-w", "0.5", "-T", str(tenants)]
    r = subprocess.run(args, capture_output=True, text=True)
    line = [x for x in r.stdout.splitlines() if x.startswith("result:")]
    return dict(kv.split("=", 1) for kv in line[-1].split()[1:]) if line else {"error": r.stderr[-300:]}


def sweep(sock, n, clients=8):
    """One request for every institution; how many signed."""
    signed, lock, nxt = [0], threading.Lock(), [1]

    def run():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i > n:
                return
            if sign(sock, msg(i)).startswith("OK"):
                with lock:
                    signed[0] += 1
    th = [threading.Thread(target=run) for _ in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return signed[0]


def late_sample(n, count=100):
    """Institutions the background openers reach last (the end of the
    configuration's order): count of them, spread over its last tenth."""
    step = max(1, n // 10 // count)
    return sorted(set(max(1, n - k * step) for k in range(min(count, n))))


def first_signed(sock, which, t0, clients=16, seconds=600):
    """From t0 on, each institution of which asked until it signs once (a
    refused connection or a TEMPFAIL is asked again 50 ms later): the
    seconds from t0 until each one's first signature."""
    done, lock, end = {}, threading.Lock(), t0 + seconds

    def run(mine):
        left = list(mine)
        while left and time.time() < end:
            for i in list(left):
                try:
                    ok = sign(sock, msg(i)).startswith("OK")
                except OSError:
                    ok = False
                if ok:
                    with lock:
                        done[i] = time.time() - t0
                    left.remove(i)
            if left:
                time.sleep(0.05)
    th = [threading.Thread(target=run, args=(which[k::clients],)) for k in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return done


def timed_reload(d, action, pred, n):
    """A change by file and SIGHUP under load for the others."""
    res = {}
    load = threading.Thread(target=lambda: res.update(load_bench(d.sock, n - 10, 6)))
    load.start()
    time.sleep(2)
    action()
    t0 = time.time()
    d.p.send_signal(signal.SIGHUP)
    ok = wait_for(pred, 120, 0.01)
    took = time.time() - t0
    load.join()
    failed = int(res.get("tempfail", 1)) + int(res.get("permfail", 1)) + int(res.get("errors", 1))
    return took if ok else float("nan"), failed, int(res.get("ok", 0))


def one_size(n, cache, seconds, results):
    fx = os.path.join(cache, str(n))
    b0 = time.time()
    r = subprocess.run([os.path.join(BUILD, "bench/tenants_build"), "-m", MOD, "-d", fx, "-n", str(n + 1)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("tenants_build failed: %s" % r.stderr)
    built = r.stdout.strip()
    os.environ["SOFTHSM2_CONF"] = os.path.join(fx, "softhsm2.conf")
    t = tempfile.mkdtemp()
    os.chmod(t, 0o711)
    spare_conf = os.path.join(fx, "institutions.d", code(n + 1) + ".conf")
    aside = os.path.join(t, code(n + 1) + ".conf")
    if os.path.exists(spare_conf):
        shutil.move(spare_conf, aside)
    row = {"n": n, "built": built, "build_s": time.time() - b0}
    d = Daemon(t, fx)
    late, sample = {}, late_sample(n)
    asker = threading.Thread(target=lambda: late.update(first_signed(d.sock, sample, d.t0)))
    asker.start()
    try:
        wait_for(lambda: sign(d.sock, msg(n // 2)).startswith("OK"), 600)
        row["first_s"] = time.time() - d.t0
        asker.join()
        row["late_n"], row["late_asked"] = len(late), len(sample)
        row["late_s"] = max(late.values()) if len(late) == len(sample) else float("nan")
        row["late_median_s"] = statistics.median(late.values()) if late else float("nan")
        up = 'p11dkim_institutions{front="native",state="up"} %d' % n
        wait_for(lambda: up in stats(d.sock), 1800, 0.2)
        row["all_up_s"] = time.time() - d.t0
        row["rss_mib"] = d.rss_mib()
        row["pss_mib"] = d.pss_mib()
        t0 = time.time()
        body = stats(d.sock)
        row["stats_ms"] = (time.time() - t0) * 1000
        row["stats_kib"] = len(body) / 1024
        t0 = time.time()
        row["sweep_signed"] = sweep(d.sock, n)
        row["sweep_s"] = time.time() - t0

        def add():
            shutil.move(aside, spare_conf)
        row["add_s"], row["add_failed"], _ = timed_reload(
            d, add, lambda: sign(d.sock, msg(n + 1)).startswith("OK"), n)
        gone = os.path.join(fx, "institutions.d", code(n) + ".conf")
        kept = open(gone).read()
        row["remove_s"], row["remove_failed"], _ = timed_reload(
            d, lambda: os.unlink(gone), lambda: "not signed here" in sign(d.sock, msg(n)), n)
        path = os.path.join(fx, "institutions.d", code(n - 1) + ".conf")
        orig = open(path).read()
        new = orig.replace('"%s.example"' % code(n - 1), '"%s.example", "x-%s.example"' % (code(n - 1), code(n - 1)))
        row["change_s"], row["change_failed"], _ = timed_reload(
            d, lambda: open(path, "w").write(new),
            lambda: sign(d.sock, msg(n - 1, "x-%s.example" % code(n - 1))).startswith("OK"), n)
        open(path, "w").write(orig)
        open(gone, "w").write(kept)
        d.log.flush()
        row["reloads"] = [x.split(": ", 2)[-1] for x in
                          open(os.path.join(t, "daemon.log"), errors="replace").read().splitlines()
                          if "configuration reloaded" in x]
        keys = [os.path.join(BUILD, "p11dkim-keys"), "-c", d.conf]
        t0 = time.time()
        r = subprocess.run(keys + ["list"], capture_output=True, text=True)
        row["list_s"] = time.time() - t0
        row["list_keys"] = len([x for x in r.stdout.splitlines() if x.startswith("t0")])
        t0 = time.time()
        r = subprocess.run(keys + ["dns", code(n // 2)], capture_output=True, text=True)
        row["dns_s"] = time.time() - t0
        if r.returncode != 0 or "IN TXT" not in r.stdout or r.stderr:
            sys.exit("p11dkim-keys dns %s: exit %d: %s" % (code(n // 2), r.returncode, r.stderr))
        single, spread = [], []
        for _ in range(3):
            single.append(float(load_bench(d.sock, 1, seconds).get("signs_s", 0)))
            spread.append(float(load_bench(d.sock, n, seconds).get("signs_s", 0)))
        row["single_rate"] = statistics.median(single)
        row["spread_rate"] = statistics.median(spread)
        row["ratio"] = row["spread_rate"] / row["single_rate"] if row["single_rate"] else 0
    finally:
        d.stop()
        if os.path.exists(spare_conf):
            shutil.move(spare_conf, aside)
        shutil.move(aside, spare_conf)
        shutil.rmtree(t, ignore_errors=True)
    results.append(row)
    return row


def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return "%s, %d CPUs" % (line.split(":", 1)[1].strip(), os.cpu_count())
    return "%d CPUs" % os.cpu_count()


def plot(results, out):
    data = os.path.join(tempfile.mkdtemp(), "data")
    with open(data, "w") as f:
        for r in results:
            f.write("%d %.2f %.1f %.1f\n" % (r["n"], r["all_up_s"], r["rss_mib"], r["pss_mib"]))
    script = """set terminal png size 800,500
set output '%s'
set logscale x
set xlabel 'institutions (each on its own SoftHSM2 token)'
set ylabel 'seconds from start until every institution is up'
set y2label 'memory of all p11dkimd processes (MiB)'
set y2tics
set ytics nomirror
set key top left
set title 'p11dkimd: start time and memory against the number of institutions'
plot '%s' using 1:2 with linespoints axes x1y1 title 'start (s)', \\
     '%s' using 1:3 with linespoints axes x1y2 title 'RSS summed (MiB)', \\
     '%s' using 1:4 with linespoints axes x1y2 title 'PSS summed (MiB)'
""" % (out, data, data, data)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-s", default="100,1000,10000", help="sizes, comma-separated")
    ap.add_argument("-c", default=os.path.expanduser("~/.cache/p11dkim-tenants"), help="fixture cache")
    ap.add_argument("-d", type=float, default=5, help="seconds of each rate round")
    ap.add_argument("-q", action="store_true", help="smoke run: size 20, 1 s rounds")
    a = ap.parse_args()
    sizes = [20] if a.q else [int(x) for x in a.s.split(",")]
    os.makedirs(a.c, exist_ok=True)
    results = []
    print("CPU: %s" % cpu())
    hdr = ("%7s %8s %8s %8s %8s %8s %6s %7s %7s %7s %7s %6s %6s %8s %8s %6s" %
           ("N", "first_s", "late_s", "allup_s", "rss_MiB", "pss_MiB", "stats", "add_s", "rm_s", "chg_s", "failed",
            "list_s", "dns_s", "single/s", "spread/s", "ratio"))
    print(hdr)
    for n in sizes:
        r = one_size(n, a.c, 1 if a.q else a.d, results)
        print("%7d %8.2f %8.2f %8.2f %8.1f %8.1f %5.0fK %7.3f %7.3f %7.3f %7d %6.2f %6.2f %8.0f %8.0f %5.1f%%" %
              (n, r["first_s"], r["late_s"], r["all_up_s"], r["rss_mib"], r["pss_mib"], r["stats_kib"], r["add_s"], r["remove_s"],
               r["change_s"], r["add_failed"] + r["remove_failed"] + r["change_failed"], r["list_s"],
               r["dns_s"], r["single_rate"], r["spread_rate"], 100 * r["ratio"]))
        print("        (%s; sweep: %d of %d signed in %.1f s; STATS %.0f ms; late: %d of %d "
              "signed, median %.2f s)" % (r["built"], r["sweep_signed"], n, r["sweep_s"], r["stats_ms"],
                                          r["late_n"], r["late_asked"], r["late_median_s"]), flush=True)
        for line in r["reloads"]:
            print("        (parent: %s)" % line.split(" from ", 1)[-1], flush=True)
    with open(os.path.join(a.c, "results.txt"), "a") as f:
        f.write("%s CPU: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), cpu()))
        for r in results:
            f.write("%r\n" % r)
    if not a.q and len(results) > 1:
        plot(results, os.path.join(TOP, "docs", "tenants.png"))
        print("plot: docs/tenants.png")


if __name__ == "__main__":
    main()
