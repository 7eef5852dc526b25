#!/usr/bin/python3
"""trail_test.py - the signing trail of p11dkimd and `p11dkim-keys trail`.

Checks: every signature made through the native front (mosa RSA, venue
Ed25519, gala dual-signed) and the milter has exactly one record, whose
d=, s=, a=, bh= and b= (its SHA-256) are those of the DKIM-Signature in
the output, with the Message-ID, size, client and front; `p11dkim-keys
trail` finds a signature by a folded bh= or b= taken from the signed
message, by Message-ID and --since, and says so, with exit status 1,
when nothing matches; files renamed and SIGUSR1 sent while a load runs
lose and repeat no record (the records of all files together are the
requests signed), and a gzipped rotated file is searched too; a full
trail folder gets TEMPFAIL with the reason and nothing is signed without
its record, counted in STATS as a trail failure, not a token error, and
signing resumes once there is room; with
trail-on-failure = "sign" (set by a reload, which starts a new signer)
the message is signed without a record and the failure logged.

The trail folder is a small tmpfs (filled up for the full-folder case).

Run through tests/integration/run.sh (P11DKIM_TEST_DIR).
Last line: "trail-test: N passed, M failed".
"""
import base64
import glob
import gzip
import hashlib
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

DOMAIN = {"mosa": "mosamuseum.com", "venue": "venue.example.org", "gala": "gala.example.net"}
TRAIL = os.path.join(T, "trail")
HOSTS = {i: '\tmilter-hosts = { "127.0.0.1", "::1" }\n' for i in DOMAIN}
BODY = b"Hello from the trail test.\r\n"


def message(inst, n):
    mid = "<trail.%s.%d.%f@example>" % (inst, n, time.time())
    return (b"From: Office <office@%s>\r\nTo: a@example.org\r\nSubject: trail %d\r\n"
            b"Message-ID: %s\r\n\r\n" % (DOMAIN[inst].encode(), n, mid.encode()) + BODY), mid


def tags(field):
    """The tags of each DKIM-Signature field in a signed output, unfolded."""
    out = []
    for m in re.finditer(rb"DKIM-Signature:(.*?)\r\n(?![ \t])", field, re.S):
        text = re.sub(r"\s+", "", m.group(1).decode())
        out.append(dict(t.split("=", 1) for t in text.split(";") if "=" in t))
    return out


def records():
    """Every record of every trail file (gzip or not), as dicts."""
    recs = []
    for path in sorted(glob.glob(os.path.join(TRAIL, "*.trail*"))):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt") as f:
            for line in f:
                recs.append(dict(kv.split("=", 1) for kv in line.split()))
    return recs


def bhash(b):
    return hashlib.sha256(base64.b64decode(b)).hexdigest()


def unescape(v):
    return "" if v == "-" else re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), v)


def field_checks(desc, rec, tag, mid, size, front, client):
    want = {"d": tag["d"], "s": tag["s"], "a": tag["a"], "bh": tag["bh"],
            "msgid": mid.strip("<>"), "size": str(size), "front": front}
    got = {k: unescape(rec.get(k, "")) for k in want}
    check("%s: the record's d=, s=, a=, bh=, Message-ID, size, front" % desc, got == want,
          "%s != %s" % (got, want))
    check("%s: the record names the client (%s)" % (desc, client), client in unescape(rec.get("client", "")),
          rec.get("client"))


def native_signatures(n_each):
    """n_each messages a institution; (signatures by b-sha256, count)."""
    made = {}
    for inst in DOMAIN:
        for i in range(n_each):
            msg, mid = message(inst, i)
            status, field = sign(msg)
            if not status.startswith("OK"):
                check("%s %d signed" % (inst, i), False, status)
                continue
            for tag in tags(field):
                made[bhash(tag["b"])] = (inst, tag, mid, len(msg), field + msg)
    return made


MILTER_SCRIPT = """
conn = mt.connect("unix:%(sock)s")
if conn == nil then error("connect") end
if mt.conninfo(conn, "localhost", "127.0.0.1") ~= nil then error("conninfo") end
mt.macro(conn, SMFIC_MAIL, "i", "%(queue)s")
if mt.mailfrom(conn, "office@%(domain)s") ~= nil then error("mailfrom") end
if mt.header(conn, "From", " Office <office@%(domain)s>") ~= nil then error("header") end
if mt.header(conn, "Message-ID", " %(mid)s") ~= nil then error("header") end
if mt.bodystring(conn, "Hello from the trail test.\\r\\n") ~= nil then error("body") end
if mt.eom(conn) ~= nil then error("eom") end
r = mt.getreply(conn)
if mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature") then print("SIGNED")
elseif r == SMFIR_TEMPFAIL then print("TEMPFAIL at EOM")
else print("reply " .. r) end
mt.disconnect(conn)
"""


def relaxed_bh(body):
    """bh= of a body under relaxed canonicalization (RFC 6376 3.4.4)."""
    lines = [re.sub(rb"[ \t]+", b" ", ln).rstrip(b" \t") for ln in body.split(b"\r\n")]
    text = b"\r\n".join(lines).rstrip(b"\r\n") + b"\r\n"
    return base64.b64encode(hashlib.sha256(text).digest()).decode()


def milter_case():
    """mosa through the milter: one record, front milter, the queue ID."""
    before = len(records())
    mid = "<trail.milter.%f@example>" % time.time()
    path = os.path.join(T, "trail.lua")
    with open(path, "w") as f:
        f.write(MILTER_SCRIPT % {"sock": MILTER, "domain": DOMAIN["mosa"], "queue": "QTRAIL1", "mid": mid})
    r = subprocess.run(["miltertest", "-s", path], capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    check("milter: mosa's message signed", out == "SIGNED", out)
    recs = [x for x in records() if unescape(x.get("client", "")).endswith("queue=QTRAIL1")]
    check("milter: exactly one record for the message (queue=QTRAIL1)", len(recs) == 1 and
          len(records()) == before + 1, recs)
    logged = re.findall(r"^.* signed .* size=(\d+) .*queue=QTRAIL1$", log_text(), re.M)
    if recs:
        size = int(logged[0]) if len(logged) == 1 else -1
        rec = recs[0]
        want = {"front": "milter", "d": "mosamuseum.com", "s": "stxsel1", "a": "rsa-sha256",
                "bh": relaxed_bh(BODY), "msgid": mid.strip("<>"), "inst": "mosa"}
        got = {k: unescape(rec.get(k, "")) for k in want}
        check("milter: the record's front, d=, s=, a=, bh= (relaxed body hash), Message-ID",
              got == want, "%s != %s" % (got, want))
        check("milter: the record's size is the one logged for the message (%d)" % size,
              rec.get("size") == str(size), rec)
    return 1 if recs else 0


def trail_cmd(*args):
    return keys("trail", *args)


def fold(value, width=20):
    """A tag value as a complaint shows it: folded over lines, indented."""
    parts = [value[i:i + width] for i in range(0, len(value), width)]
    return "\r\n\t".join(parts) + " ;"


def query_checks(made):
    inst, tag, mid, _, _ = next(v for v in made.values() if v[0] == "mosa")
    b = bhash(tag["b"])
    r = trail_cmd("mosa", "--bh", "bh=" + fold(tag["bh"]))
    check("trail --bh (folded, with its bh=): found, exit 0", r.returncode == 0 and tag["bh"] in r.stdout,
          r.stdout + r.stderr)
    r = trail_cmd("mosa", "--b", fold(tag["b"], 60))
    check("trail --b (folded): exactly its record, exit 0",
          r.returncode == 0 and r.stdout.count("\n") == 1 and b in r.stdout, r.stdout + r.stderr)
    r = trail_cmd("mosa", "--message-id", " %s " % mid)
    check("trail --message-id: found", r.returncode == 0 and mid.strip("<>") in r.stdout, r.stdout + r.stderr)
    r = trail_cmd("mosa", "--since", "2000-01-01", "--b", tag["b"])
    check("trail --since in the past with --b: found", r.returncode == 0 and b in r.stdout, r.stderr)
    r = trail_cmd("mosa", "--since", "@%d" % (time.time() + 3600))
    check("trail --since in the future: no record matches, exit 1",
          r.returncode == 1 and "no record of mosa matches" in r.stderr and r.stdout == "", r.stdout + r.stderr)
    other = base64.b64encode(hashlib.sha256(b"not ours").digest()).decode()
    r = trail_cmd("mosa", "--bh", other)
    check("trail --bh of a body we never signed: exit 1", r.returncode == 1 and r.stdout == "", r.stdout)
    r = trail_cmd("venue", "--b", tag["b"])
    check("trail: mosa's signature is not in venue's trail (exit 1)", r.returncode == 1, r.stdout)
    r = trail_cmd("mosa", "--b", "not*base64")
    check("trail --b with garbage: a usage error (64)", r.returncode == 64, r.stderr)
    r = trail_cmd("../etc", "--b", tag["b"])
    check("trail with a code that is a path: refused (64)", r.returncode == 64, r.stderr)


def load(stop, counts):
    """Sign mosa's messages until stop is set; counts OK and others."""
    n = 0
    while not stop.is_set():
        msg, _ = message("mosa", n)
        n += 1
        try:
            status, _ = sign(msg)
        except OSError as e:
            status = str(e)
        counts["ok" if status.startswith("OK") else "other"] += 1


def rotation(d):
    """Rename, signal, new file, twice, while 4 clients sign."""
    mosa = os.path.join(TRAIL, "mosa.trail")
    before = sum(1 for r in records() if r["inst"] == "mosa")
    stop, counts = threading.Event(), {"ok": 0, "other": 0}
    th = [threading.Thread(target=load, args=(stop, counts)) for _ in range(4)]
    for t in th:
        t.start()
    for k in (1, 2):
        time.sleep(1.0)
        os.rename(mosa, "%s.%d" % (mosa, k))
        d.p.send_signal(signal.SIGUSR1)
        check("rotation %d: a new mosa.trail appears after SIGUSR1" % k,
              wait_for(lambda: os.path.exists(mosa), 10))
    time.sleep(1.0)
    stop.set()
    for t in th:
        t.join()
    with open(mosa + ".1", "rb") as f, gzip.open(mosa + ".1.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    os.unlink(mosa + ".1")
    recs = [r for r in records() if r["inst"] == "mosa"]
    check("rotation under load: %d signed, none failed" % counts["ok"],
          counts["ok"] > 0 and counts["other"] == 0, counts)
    check("rotation: records of all files = signatures made (%d = %d + %d)"
          % (len(recs), before, counts["ok"]), len(recs) == before + counts["ok"])
    check("rotation: no record twice", len({r["b-sha256"] for r in recs}) == len(recs))
    check("rotation: each of the three files has records",
          all(os.path.getsize(p) > 0 for p in (mosa, mosa + ".2", mosa + ".1.gz")))
    first = next(r for r in records() if r["inst"] == "mosa")
    r = trail_cmd("mosa", "--bh", first["bh"], "--since", first["t"])
    check("trail searches the rotated and gzipped files too",
          r.returncode == 0 and first["b-sha256"] in r.stdout, r.stdout + r.stderr)


def fill(d, suffix):
    """venue's file started anew (a file's last page, partly used, would
    take a record even on a full tmpfs), then the folder filled up."""
    venue = os.path.join(TRAIL, "venue.trail")
    os.rename(venue, venue + suffix)
    reopened = log_text().count("signing trail: files reopened")
    d.p.send_signal(signal.SIGUSR1)
    check("SIGUSR1: the signer says it reopened its files",
          wait_for(lambda: log_text().count("signing trail: files reopened") > reopened, 10))
    filler = os.path.join(TRAIL, "filler" + suffix)
    try:
        f = open(filler, "wb", buffering=0)
    except OSError as e:
        # Already full: say what fills it, and go on (the case holds).
        print("note: the trail folder is full before the filler (%s): %s" % (
            e, sorted((n, os.path.getsize(os.path.join(TRAIL, n))) for n in os.listdir(TRAIL))))
        return None
    try:
        while True:
            f.write(b"\0" * 65536)
    except OSError:
        pass
    f.close()
    return filler


def full_folder(d, table):
    """No room for a record: TEMPFAIL with the reason, nothing signed."""
    filler = fill(d, ".full")
    before = len(records())
    counted = stats_text()
    msg, _ = message("venue", 99)
    status, field = sign(msg)
    after = stats_text()
    check("full trail folder: TEMPFAIL with the reason",
          status.startswith("TEMPFAIL") and "signing trail: cannot write venue.trail: No space left"
          in status and "not signed" in status, status)
    check("full trail folder: no signature, no record", field == b"" and len(records()) == before)
    check("full trail folder: logged", "signing trail: cannot write venue.trail" in log_text())
    failures = [metric(t, "p11dkim_trail_failures_total", front="native", institution="venue")
                for t in (counted, after)]
    errors = [metric(t, "p11dkim_token_errors_total", front="native", institution="venue")
              for t in (counted, after)]
    check("full trail folder: counted in p11dkim_trail_failures_total (%s)" % failures,
          None not in failures and failures[1] == failures[0] + 1)
    check("full trail folder: not counted as a token error (%s)" % errors,
          None not in errors and errors[1] == errors[0])
    if filler:
        os.unlink(filler)
    status, field = sign(msg)
    check("room again: signed, verified, recorded once",
          status.startswith("OK") and dkimpy_ok(field + msg, table) and len(records()) == before + 1, status)


def sign_anyway(d, table):
    """trail-on-failure = "sign", by a reload (a new signer): signed
    without a record, the failure logged."""
    before = log_text().count("configuration reloaded")
    write_conf(milter='\ton-token-failure = "accept"\n', extra=HOSTS,
               top='trail-dir = "%s"\ntrail-on-failure = "sign"\n' % TRAIL)
    d.p.send_signal(signal.SIGHUP)
    check("reload with trail-on-failure = \"sign\"",
          wait_for(lambda: log_text().count("configuration reloaded") > before and Daemon.answers(), 60),
          log_text()[-800:])
    msg, _ = message("venue", 98)
    status, field = sign(msg)
    check("the new signer writes the trail", status.startswith("OK") and
          bhash(tags(field)[0]["b"]) in {r["b-sha256"] for r in records()}, status)
    filler = fill(d, ".full2")
    failed = log_text().count("signing trail: cannot write venue.trail")
    before = len(records())
    status, field = sign(msg)
    check("full folder, trail-on-failure = sign: signed and verified",
          status.startswith("OK") and dkimpy_ok(field + msg, table), status)
    check("... without a record, the failure logged", len(records()) == before and
          wait_for(lambda: log_text().count("signing trail: cannot write venue.trail") > failed, 5))
    if filler:
        os.unlink(filler)


def mount_trail():
    os.makedirs(TRAIL, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", TRAIL],
                       capture_output=True, text=True)
    check("a tmpfs for the trail folder", r.returncode == 0, r.stderr)
    return r.returncode == 0


def main():
    mounted = mount_trail()
    table, _ = setup(milter='\ton-token-failure = "accept"\n', extra=HOSTS)
    write_conf(milter='\ton-token-failure = "accept"\n', extra=HOSTS,
               top='trail-dir = "%s"\ntrail-sync = 1\ntrail-open-files = 2\n' % TRAIL)
    d = Daemon(milter=True)
    try:
        made = native_signatures(3)
        recs = records()
        by_b = {}
        for r in recs:
            by_b.setdefault(r["b-sha256"], []).append(r)
        check("native: 12 signatures made (gala dual-signs)", len(made) == 12, len(made))
        check("native: every signature verifies", all(dkimpy_ok(v[4], table) for v in made.values()))
        check("native: exactly one record each, and no other record",
              all(len(by_b.get(b, [])) == 1 for b in made) and len(recs) == len(made), len(recs))
        for b, (inst, tag, mid, size, _) in made.items():
            if len(by_b.get(b, [])) == 1:
                field_checks("native %s %s" % (inst, tag["a"]), by_b[b][0], tag, mid, size, "native",
                             "uid=%d" % os.getuid())
        milter_case()
        query_checks(made)
        rotation(d)
        if mounted:
            full_folder(d, table)
            sign_anyway(d, table)
        modes = {p: os.stat(p).st_mode & 0o777 for p in glob.glob(os.path.join(TRAIL, "*.trail"))}
        check("trail files are created 0640", modes and all(m == 0o640 for m in modes.values()), modes)
    finally:
        if d.p.poll() is None:
            d.stop()
        if mounted:
            subprocess.run(["umount", TRAIL])
    if SANITIZED:
        text = log_text()
        check("sanitizer build: no report in the daemon's log (signer, fronts, parent)",
              "Sanitizer" not in text and "runtime error" not in text, text[-3000:])
    sys.exit(summary("trail-test"))


if __name__ == "__main__":
    main()
