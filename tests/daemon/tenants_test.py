#!/usr/bin/python3
"""tenants_test.py - p11dkimd with many institutions, each on its own
SoftHSM2 token, one file each in an included folder.

The fixture (200 institutions, Ed25519 keys generated on their tokens)
is made by build/bench/tenants_build in one process.  Checks: p11dkimd -n
reads the whole set; the daemon starts and signs for institutions spread
over the range (signatures verified by dkimpy with the keys p11dkim-keys
dns prints); STATS says every institution is up; a reload that adds,
removes or changes one institution takes effect while a load runs for
others, with no failed request for them and no new login for the
institutions it did not touch; a token that refuses its PIN, or is
missing, affects only its own institution, its PIN is not offered again
until the PIN file changes, and it signs again by itself once fixed;
with strict-start such a token stops the start.

Run through tests/integration/run.sh (P11DKIM_TEST_DIR).
Last line: "tenants-test: N passed, M failed".
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11env import *  # noqa: E402,F401,F403
import p11env  # noqa: E402

N = int(os.environ.get("TENANTS", "200"))
FX = os.path.join(T, "fx")
INC = os.path.join(FX, "institutions.d")


def code(i):
    return "t%05d" % i


def msg(i, n=0):
    return (b"From: Box Office <tickets@%s.example>\r\nTo: a@example.org\r\n"
            b"Subject: ticket %d\r\nMessage-ID: <%d.%d@%s.example>\r\n\r\n"
            b"Your ticket.\r\n" % (code(i).encode(), n, i, n, code(i).encode()))


def write_main(strict=False):
    with open(CONF, "w") as f:
        f.write("""pkcs11-module = "%s"
provider-zone = "dkim.example.net"
record-name = "sel%%n-%%c"
selectors = { "stxsel1", "stxsel2" }
state-dir = "%s/state"
ceremony-log = "%s/state/ceremony.log"
log = "stderr"
workers = 32
io-timeout = 5
idle-timeout = 5
drain-timeout = 10
strict-start = %s
require-separate-users = false
include = "fx/institutions.d/*.conf"
listen "%s" {
	mode = "0666"
}
""" % (MOD, T, T, "true" if strict else "false", SOCK))


def keys_cmd(*args):
    return subprocess.run([os.path.join(BUILD, "p11dkim-keys"), "-c", CONF, "--operator", "test"] +
                          list(args), capture_output=True, text=True)


def key_record(i):
    out = keys_cmd("dns", code(i)).stdout
    m = re.search(r"sel1-%s\._domainkey\S* IN TXT \((.*?)\)" % code(i), out, re.S)
    return "".join(re.findall(r'"([^"]*)"', m.group(1))) if m else None


def try_sign(m):
    """sign(m); a connection that failed (refused or reset while the
    fronts change over at a reload) is a status that says so."""
    try:
        return sign(m)
    except OSError as e:
        return "EXCEPTION %s" % e, b""


def signs(i, n=0, table=None):
    status, field = try_sign(msg(i, n))
    if not status.startswith("OK"):
        return False, status
    if table is not None:
        return dkimpy_ok(field + msg(i, n), table), status
    return True, status


def stats():
    try:
        return stats_text()
    except OSError:
        return ""


def wait_for(pred, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


class Load:
    """Clients signing for a few institutions, round and round."""

    def __init__(self, which):
        self.which, self.results, self.stop = which, [], threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(k,)) for k in range(4)]
        for t in self.threads:
            t.start()

    def run(self, k):
        n = 0
        while not self.stop.is_set():
            i = self.which[(n + k) % len(self.which)]
            self.results.append(signs(i, n))
            n += 1

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        bad = [r for r in self.results if not r[0]]
        return len(self.results), bad


def build_fixture():
    os.umask(0o077)
    r = subprocess.run([os.path.join(BUILD, "bench/tenants_build"), "-m", MOD, "-d", FX, "-n", str(N + 1)],
                       capture_output=True, text=True)
    check("fixture of %d institutions built" % (N + 1), r.returncode == 0, r.stderr + r.stdout)
    shutil.move(os.path.join(INC, code(N + 1) + ".conf"), os.path.join(T, code(N + 1) + ".conf"))
    os.environ["SOFTHSM2_CONF"] = os.path.join(FX, "softhsm2.conf")
    os.makedirs(os.path.join(T, "state"), exist_ok=True)
    os.chmod(T, 0o711)


def start_and_sign(table):
    r = subprocess.run([os.path.join(BUILD, "p11dkimd"), "-n", "-c", CONF], capture_output=True, text=True)
    check("p11dkimd -n reads every included file", r.returncode == 0 and
          r.stdout.count(": signs ") == N, r.stderr[-500:])
    t0 = time.time()
    d = Daemon()
    spread = [1, N // 4, N // 2, 3 * N // 4, N]
    for i in spread:
        ok, why = signs(i, 0, table)
        check("signs for %s, verified by dkimpy" % code(i), ok, why)
    print("first signatures %.2f s after start" % (time.time() - t0))
    check("every institution is up in STATS",
          wait_for(lambda: 'p11dkim_institutions{front="native",state="up"} %d' % N in stats(), 120),
          re.findall(r"p11dkim_institutions\{.*", stats()))
    return d


def reload_under_load(d, action, what, ok_pred):
    """One reload with a load running for other institutions."""
    others = [2, N // 3, N // 2 + 1, N - 1]
    killed = log_text().count("killed by signal")
    load = Load(others)
    try:
        time.sleep(0.5)
        action()
        d.p.send_signal(signal.SIGHUP)
        t0 = time.time()
        ok = wait_for(ok_pred, 60)
        took = time.time() - t0
        time.sleep(0.5)
    finally:
        n, bad = load.end()
    check("%s (%.1f s)" % (what, took), ok)
    check("no request failed for other institutions meanwhile (%d requests)" % n, n > 0 and not bad,
          repr(bad[:3]))
    check("no process died meanwhile", log_text().count("killed by signal") == killed,
          re.findall(r".*killed by signal.*", log_text())[-3:])


def add_remove_change(d, table):
    """Reloads under load: institutions added, removed, changed."""
    spare = N + 1               # its token is there, not configured yet
    logins = log_text().count("ready, self-test passed")

    def add_spare():
        shutil.move(os.path.join(T, code(spare) + ".conf"), os.path.join(INC, code(spare) + ".conf"))
        table["stxsel1._domainkey.%s.example" % code(spare)] = key_record(spare) or ""
    reload_under_load(d, add_spare,
                      "an institution whose token is there signs after SIGHUP",
                      lambda: signs(spare, 1, table)[0])
    reload_under_load(d, lambda: os.unlink(os.path.join(INC, code(3) + ".conf")),
                      "an institution removed by SIGHUP is refused",
                      lambda: "not signed here" in signs(3, 2)[1])
    path = os.path.join(INC, code(4) + ".conf")
    text = open(path).read().replace('"%s.example"' % code(4), '"%s.example", "changed-%s.example"' % (code(4), code(4)))
    changed = msg(4).replace(b"%s.example>" % code(4).encode(), b"changed-%s.example>" % code(4).encode())
    reload_under_load(d, lambda: open(path, "w").write(text),
                      "an institution changed by SIGHUP signs for its new domain",
                      lambda: try_sign(changed)[0].startswith("OK"))
    logins = log_text().count("ready, self-test passed") - logins
    check("those reloads kept every other login; one key opened (%d)" % logins, logins == 1, str(logins))
    check("and kept the signer", "starting a new signer" not in log_text())
    # A token made now: this module cannot show it (SoftHSM2 enumerates
    # its store at C_Initialize only): a new signer, warmed first.
    new = N + 2
    with open(os.path.join(T, "so.pin"), "w") as f:
        f.write("tenants-so-pin-1\n")
    with open(os.path.join(FX, "pins", code(new) + ".pin"), "w") as f:
        f.write("user-pin-new-1\n")
    with open(os.path.join(INC, code(new) + ".conf"), "w") as f:
        f.write(open(os.path.join(INC, code(1) + ".conf")).read().replace(code(1), code(new)))
    r = keys_cmd("init-token", code(new), "--so-pin", "file:%s/so.pin" % T,
                 "--pin", "file:%s/pins/%s.pin" % (FX, code(new)))
    check("init-token for a new institution", r.returncode == 0, r.stderr)
    r = keys_cmd("generate", code(new))
    check("generate for a new institution", r.returncode == 0, r.stderr)
    zone = os.path.join(T, code(new) + ".zone")
    with open(zone, "w") as f:
        f.write(keys_cmd("dns", code(new)).stdout)
    r = keys_cmd("check-dns", code(new), "--promote", "--zone", zone)
    check("the new institution is promoted (its DNS confirmed)", r.returncode == 0, r.stdout + r.stderr)
    table["stxsel1._domainkey.%s.example" % code(new)] = key_record(new) or ""
    reload_under_load(d, lambda: None, "an institution on a token made after the start signs after SIGHUP",
                      lambda: signs(new, 1, table)[0])
    check("a new signer was started for it", "starting a new signer" in log_text())


def broken_tokens(table):
    """A PIN refused, a token missing: only their institutions suffer."""
    bad, gone = N - 2, N - 3
    pin = os.path.join(FX, "pins", code(bad) + ".pin")
    good_pin = open(pin).read()
    with open(pin, "w") as f:
        f.write("wrong-pin-0000\n")
    gone_conf = os.path.join(INC, code(gone) + ".conf")
    text = open(gone_conf).read()
    with open(gone_conf, "w") as f:
        f.write(text.replace("active-selector", 'token-label = "no-such-token"\n\tactive-selector'))
    d = Daemon()
    try:
        for i in (1, N // 2, N):
            ok, why = signs(i, 5, table)
            check("%s signs while two other tokens are broken" % code(i), ok, why)
        ok, why = signs(bad, 5)
        check("the institution whose PIN is refused gets TEMPFAIL", why.startswith("TEMPFAIL"), why)
        ok, why = signs(gone, 5)
        check("the institution whose token is missing gets TEMPFAIL", why.startswith("TEMPFAIL"), why)
        body = stats()
        check("STATS shows both down", 'p11dkim_institution_up{front="native",institution="%s"} 0' % code(bad) in body and
              'p11dkim_institution_up{front="native",institution="%s"} 0' % code(gone) in body and
              'p11dkim_institutions{front="native",state="down"} 2' in body, re.findall(r"p11dkim_institutions\{.*", body))
        time.sleep(3)
        for _ in range(3):
            signs(bad, 6)
        refusals = log_text().count("token '%s' refused the PIN" % code(bad))
        check("a refused PIN is not offered again (%d logins)" % refusals, refusals == 1, str(refusals))
        with open(pin, "w") as f:
            f.write(good_pin)
        check("once its PIN file is right it signs again by itself",
              wait_for(lambda: signs(bad, 7, table)[0], 90))
    finally:
        d.stop()
        with open(gone_conf, "w") as f:
            f.write(text)
    write_main(strict=True)
    with open(pin, "w") as f:
        f.write("wrong-pin-0000\n")
    r = subprocess.run([os.path.join(BUILD, "p11dkimd"), "-f", "-c", CONF], capture_output=True, text=True,
                       timeout=300)
    check("strict-start refuses to start with a broken token", r.returncode == 69 and code(bad) in r.stderr,
          r.stderr[-500:])
    with open(pin, "w") as f:
        f.write(good_pin)
    write_main()


def main():
    build_fixture()
    write_main()
    table = {}
    for i in (1, N // 4, N // 2, 3 * N // 4, N, N - 2, 2, N // 3, N // 2 + 1, N - 1, 4):
        table["stxsel1._domainkey.%s.example" % code(i)] = key_record(i)
        table["stxsel1._domainkey.changed-%s.example" % code(i)] = key_record(i)
    check("p11dkim-keys dns prints the key of an institution among %d" % N, all(table.values()))
    d = start_and_sign(table)
    try:
        add_remove_change(d, table)
    finally:
        check("the daemon stops on SIGTERM", d.stop() == 0)
    broken_tokens(table)
    sys.exit(summary("tenants-test"))


if __name__ == "__main__":
    main()
