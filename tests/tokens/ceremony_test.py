#!/usr/bin/python3
"""ceremony_test.py - the whole key ceremony and signing path on one
PKCS#11 implementation, run inside one of the fixtures of tests/tokens/
(softhsm.sh, opencryptoki.sh, tpm.sh, nss.sh), which say what the token
is expected to do (P11DKIM_TOKEN_* variables, see fixture.sh).

The token is set up as a security officer would: `p11dkim-keys init-token`
where it works, the vendor's tool (pkcsconf, certutil) elsewhere.  Then:
token-info; audit of an empty token ("no keys"); generate, with exactly
the hardening attributes this token refuses dropped, printed and logged;
--strict refusing them; an Ed25519 institution refused before the token
is touched where the token has no EdDSA (and signing with one where it
has); a key size the token cannot do refused; audit, attribute by
attribute (and, where the token says CKA_LOCAL false, the ceremony log's
word and what happens without it); signing after the module is
initialized again, as after a device error (with NSS's init args); DNS
records; p11dkimd signing the
corpus through its socket, every signature verified by dkimpy and
Mail::DKIM with the keys `p11dkim-keys dns` prints; a rotation (start,
publish, verify --zone, activate, reload, revoke, finish) with signing
under the new selector; the ceremony log verified at the end.

Last line: "tokens-IMPL: N passed, M failed".
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "daemon"))
from p11env import (BUILD, CONF, ONE_USER, SOCK, T, TOP, Daemon, check, dkimpy_ok, keys,  # noqa: E402
                    log_text, sign, summary, wire)

IMPL = os.environ["P11DKIM_TOKEN_IMPL"]
MOD = os.environ["P11DKIM_TEST_MODULE"]
INIT_ARGS = os.environ.get("P11DKIM_TEST_INIT_ARGS", "")
VENDOR_INIT = os.environ["P11DKIM_TOKEN_INIT"] == "vendor"
EDDSA = os.environ["P11DKIM_TOKEN_EDDSA"] == "1"
DROPS = set(d for d in os.environ["P11DKIM_TOKEN_DROPS"].split(",") if d)
FIXTURE = os.environ["P11DKIM_TOKEN_FIXTURE"]
MOSA_LABEL = os.environ["P11DKIM_TOKEN_LABEL"].replace("%s", "mosa")
LOG = os.path.join(T, "state", "ceremony.log")
MSG = (b"From: Tickets <tickets@mosamuseum.com>\r\nTo: a@example.org\r\n"
       b"Subject: test\r\nMessage-ID: <t1@mosamuseum.com>\r\n\r\nHello.\r\n")
# PINs of 8 characters: openCryptoki takes 4 to 8, init-token wants 8.
PINS = {"so": "so-12345", "mosa": "mosa1234", "venue": "venu1234"}


def write_conf():
    venue_label = "venue" if EDDSA else MOSA_LABEL
    text = """pkcs11-module = "%(mod)s"
%(args)s
%(one_user)s
provider-zone = "dkim.example.net"
record-name = "sel%%n-%%c"
selectors = { "stxsel1", "stxsel2" }
state-dir = "%(t)s/state"
ceremony-log = "%(log)s"
log = "stderr"
io-timeout = 10
listen "%(sock)s" {
\tmode = "0600"
}
institution mosa {
\tdomains = { "mosamuseum.com" }
\ttoken-label = "%(mosa)s"
\tpin = "file:%(t)s/mosa.pin"
\tactive-selector = "stxsel1"
\tallow-uids = { "%(uid)d" }
}
institution venue {
\tdomains = { "venue.example.org" }
\ttoken-label = "%(venue)s"
\tpin = "file:%(t)s/%(venue_pin)s.pin"
\tactive-selector = "stxsel1"
\talgorithm = "ed25519-sha256"
\tkey-type = "ed25519"
\toptional = true
\tallow-uids = { "%(uid)d" }
}
""" % {"mod": MOD, "t": T, "log": LOG, "sock": SOCK, "mosa": MOSA_LABEL, "venue": venue_label,
       "venue_pin": "venue" if EDDSA else "mosa", "uid": os.getuid(),
       "one_user": ONE_USER,
       "args": 'pkcs11-init-args = "%s"' % INIT_ARGS if INIT_ARGS else ""}
    with open(CONF, "w") as f:
        f.write(text)


def set_up_tokens():
    os.umask(0o077)
    os.makedirs(os.path.join(T, "state"), exist_ok=True)
    for name, pin in PINS.items():
        with open(os.path.join(T, name + ".pin"), "w") as f:
            f.write(pin + "\n")
    write_conf()
    so, mosa = os.path.join(T, "so.pin"), os.path.join(T, "mosa.pin")
    if VENDOR_INIT:
        r = subprocess.run([FIXTURE, "setup-token", "mosa", so, mosa], capture_output=True, text=True)
        check("the vendor's tool sets the token up", r.returncode == 0, r.stderr)
        return
    for inst in ["mosa"] + (["venue"] if EDDSA else []):
        r = keys("init-token", inst, "--so-pin", "file:" + so, "--pin", "file:%s/%s.pin" % (T, inst))
        check("init-token " + inst, r.returncode == 0, r.stderr)


def token_info():
    r = keys("token-info", "mosa")
    check("token-info mosa", r.returncode == 0 and "CKM_RSA_PKCS_KEY_PAIR_GEN    yes" in r.stdout, r.stdout + r.stderr)
    r = keys("--json", "token-info", "mosa")
    try:
        info = json.loads(r.stdout)
    except ValueError:
        check("token-info --json is JSON", False, r.stdout)
        return {}
    mechs = {m["name"]: m for m in info["mechanisms"]}
    check("token-info --json: CKM_EDDSA %s" % ("offered" if EDDSA else "absent"),
          mechs["CKM_EDDSA"]["supported"] == EDDSA, mechs["CKM_EDDSA"])
    check("token-info --json: sessions and PIN rules",
          "max" in info["sessions"] and info["pin"]["max_length"] >= 8, info)
    return mechs


def dropped_in(text):
    """The attributes generate says it dropped."""
    return set(m.group(1) for m in re.finditer(r"^  (.+?) = \S+: CKR_", text, re.M))


def last_record(action):
    lines = [l for l in open(LOG).read().splitlines() if " action=%s " % action in l]
    return lines[-1] if lines else ""


def generate():
    r = keys("audit", "mosa")
    check("audit of the empty token: 'no keys', exit 1", r.returncode == 1 and "no keys" in r.stderr, r.stdout + r.stderr)
    r = keys("generate", "mosa")
    check("generate mosa", r.returncode == 0, r.stdout + r.stderr)
    check("generate drops exactly what %s refuses: %s" % (IMPL, sorted(DROPS) or "nothing"),
          dropped_in(r.stdout) == DROPS, r.stdout)
    rec = last_record("generate")
    if DROPS:
        check("the ceremony log records each attribute dropped, with the token's answer",
              "result=ok:%20dropped%20" in rec and all(d.replace(" ", "%20") + "%20(CKR_" in rec for d in DROPS), rec)
    else:
        check("the ceremony log records a plain ok", " result=ok prev=" in rec, rec)
    before = keys("list", "mosa").stdout
    r = keys("generate", "mosa", "stxsel2", "--strict")
    if DROPS:
        check("--strict refuses to drop anything", r.returncode == 69 and "--strict drops no hardening" in r.stderr,
              r.stdout + r.stderr)
        check("--strict leaves nothing on the token", keys("list", "mosa").stdout == before)
        check("the refusal is logged", "result=failed:" in last_record("generate"))
    else:
        check("--strict: the token takes the full template", r.returncode == 0, r.stderr)
        r = keys("--yes", "destroy", "mosa", "stxsel2")
        check("destroy the standby key again", r.returncode == 0, r.stderr)


def refusals(mechs):
    before = keys("list", "mosa").stdout
    r = keys("generate", "venue")
    if EDDSA:
        check("generate venue (Ed25519)", r.returncode == 0, r.stderr)
    else:
        check("an Ed25519 institution is refused clearly, exit 78",
              r.returncode == 78 and "no CKM_EC_EDWARDS_KEY_PAIR_GEN" in r.stderr and "Nothing was done" in r.stderr,
              r.stderr)
        check("and logged", "cannot%20make%20or%20use%20a%20ed25519%20key" in last_record("generate"))
    gen = mechs.get("CKM_RSA_PKCS_KEY_PAIR_GEN", {})
    if gen.get("max_bits", 0) and gen["max_bits"] < 4096:
        r = keys("generate", "mosa", "stxsel2", "--type", "rsa4096")
        check("an RSA size the token cannot do is refused before it is touched",
              r.returncode == 78 and "not 4096" in r.stderr, r.stderr)
    check("nothing on the token changed", keys("list", "mosa").stdout == before)


def audit():
    r = keys("audit", "mosa")
    check("audit mosa passes", r.returncode == 0 and "never left it" in r.stdout, r.stdout + r.stderr)
    for name in ("CKA_TOKEN", "CKA_PRIVATE", "CKA_SENSITIVE", "CKA_SIGN"):
        check("audit: %s true" % name, re.search(r"essential  %s +true$" % name, r.stdout, re.M), r.stdout)
    check("audit: CKA_EXTRACTABLE false", re.search(r"essential  CKA_EXTRACTABLE +false$", r.stdout, re.M))
    for d in set(re.sub(r" \(.*", "", d) for d in DROPS):
        check("audit: %s reported not in force" % d,
              re.search(r"hardening  %s +\S+ +not in force" % re.escape(d), r.stdout), r.stdout)
    r = keys("audit", "mosa", "--strict")
    check("audit --strict %s" % ("fails on what was dropped" if DROPS else "passes"),
          r.returncode == (1 if DROPS else 0), r.stdout)
    js = json.loads(keys("--json", "audit", "mosa").stdout)
    if js and js[0]["local"] != 1:
        local_from_log(js[0])


def local_from_log(key):
    """The token says CKA_LOCAL false: the audit rests on the log, and says so."""
    check("audit: CKA_LOCAL false vouched for by the ceremony log's record",
          key["local_vouched_by_log_record"] is not None, key)
    r = keys("audit", "mosa")
    check("the report says it is the log's word", "the log's word, not the token's" in r.stdout, r.stdout)
    shutil.move(LOG, LOG + ".away")
    r = keys("audit", "mosa")
    check("without the log's record the key fails the audit",
          r.returncode == 1 and "has no record of its generation" in r.stdout, r.stdout)
    shutil.move(LOG + ".away", LOG)


def reinit():
    """The module initialized again, as the signer does after a device error."""
    r = subprocess.run([os.path.join(BUILD, "tests", "treinit"), MOD, MOSA_LABEL, os.path.join(T, "mosa.pin"),
                        "mosa-stxsel1", INIT_ARGS], capture_output=True, text=True)
    check("signing works after the module is initialized again%s" % (" (with its init args)" if INIT_ARGS else ""),
          r.returncode == 0, r.stdout + r.stderr)


def keytable():
    table = {}
    for inst, domain in (("mosa", "mosamuseum.com"), ("venue", "venue.example.org")):
        zone = keys("dns", inst).stdout
        for n in (1, 2):
            m = re.search(r"sel%d-%s\._domainkey\S* IN TXT \((.*?)\)" % (n, inst), zone, re.S)
            if m:
                table["stxsel%d._domainkey.%s" % (n, domain)] = "".join(re.findall(r'"([^"]*)"', m.group(1)))
    path = os.path.join(T, "keys.txt")
    with open(path, "w") as f:
        for name, rec in table.items():
            f.write("%s %s\n" % (name, rec))
    return table, path


def dns():
    r = keys("dns", "mosa")
    check("dns mosa", r.returncode == 0 and "IN TXT" in r.stdout, r.stderr)
    zone = os.path.join(T, "mosa.zone")
    with open(zone, "w") as f:
        f.write(r.stdout)
    r = keys("check-dns", "mosa", "stxsel1", "--zone", zone)
    check("check-dns: the published key matches the token's", r.returncode == 0, r.stdout + r.stderr)
    # New institutions are pending until their DNS is confirmed.
    for inst in ("mosa",) + (("venue",) if EDDSA else ()):
        path = os.path.join(T, inst + ".zone")
        with open(path, "w") as f:
            f.write(keys("dns", inst).stdout)
        r = keys("check-dns", inst, "--promote", "--zone", path)
        check("check-dns --promote %s" % inst, r.returncode == 0, r.stdout + r.stderr)
    return zone


def maildkim(keyfile, files, what):
    r = subprocess.run(["perl", os.path.join(TOP, "tests/xverify/verify_maildkim.pl"), keyfile] + files,
                       capture_output=True, text=True)
    check("Mail::DKIM verifies %s (%d files)" % (what, len(files)), files and r.returncode == 0, r.stdout[-2000:])


def sign_corpus(table, keyfile, tag):
    out = os.path.join(T, "signed-" + tag)
    os.makedirs(out, exist_ok=True)
    rsa = []
    files = sorted(glob.glob(os.path.join(TOP, "tests/corpus/*.eml")))
    for path in files:
        msg = open(path, "rb").read()
        base = os.path.basename(path)[:-4]
        for inst, domain in (("mosa", "mosamuseum.com"),) + ((("venue", "venue.example.org"),) if EDDSA else ()):
            status, field = sign(msg, domain=domain)
            if not status.startswith("OK"):
                check("p11dkimd signs %s for %s" % (base, inst), False, status)
                continue
            signed = field + wire(msg)
            if "-obs-" not in base:
                check("dkimpy verifies %s (%s, %s)" % (base, inst, tag), dkimpy_ok(signed, table))
            if inst == "mosa":
                dst = os.path.join(out, base + ".eml")
                with open(dst, "wb") as f:
                    f.write(signed)
                rsa.append(dst)
    maildkim(keyfile, rsa, "every rsa-sha256 signature, %s" % tag)


def wait_for_selector(sel, table):
    for _ in range(200):
        status, field = sign(MSG)
        flat = field.replace(b"\r\n\t", b"")
        if status.startswith("OK") and b"s=%s;" % sel.encode() in flat:
            return field
        time.sleep(0.1)
    return b""


def rotation(d, zone):
    r = keys("rotate", "mosa", "start")
    check("rotate start: a key on the standby selector", r.returncode == 0, r.stdout + r.stderr)
    check("rotate start drops what generate drops", dropped_in(r.stdout) == DROPS, r.stdout)
    r = keys("rotate", "mosa", "publish")
    new = os.path.join(T, "new.zone")
    with open(new, "w") as f:
        f.write(r.stdout)
    both = os.path.join(T, "both.zone")
    with open(both, "w") as f:
        f.write(open(zone).read() + r.stdout)
    r = keys("rotate", "mosa", "verify", "--zone", both)
    check("rotate verify --zone", r.returncode == 0, r.stdout + r.stderr)
    r = keys("rotate", "mosa", "activate")
    check("rotate activate", r.returncode == 0, r.stderr)
    table, keyfile = keytable()
    d.p.send_signal(signal.SIGHUP)
    field = wait_for_selector("stxsel2", table)
    check("after the reload p11dkimd signs with stxsel2, verified", field and dkimpy_ok(field + MSG, table))
    # tpm2-pkcs11 reads a token's objects at C_Initialize only: the key
    # made by the rotation needs a new signer; the others see it.
    renewed = "does not show 1 new token(s) or key(s)" in log_text()
    check("a new signer for the new key exactly where the module cannot see it (%s)" % IMPL,
          renewed == (IMPL == "tpm"), log_text()[-2000:])
    sign_corpus(table, keyfile, "after the rotation")
    r = keys("rotate", "mosa", "revoke", "--grace", "0")
    final = os.path.join(T, "final.zone")
    with open(final, "w") as f:
        f.write(open(new).read() + r.stdout)
    check("rotate revoke", r.returncode == 0, r.stderr)
    r = keys("--yes", "rotate", "mosa", "finish", "--zone", final)
    check("rotate finish destroys the old key", r.returncode == 0, r.stdout + r.stderr)
    listing = keys("list", "mosa").stdout
    check("only the new key is left", "stxsel2" in listing and "mosa     stxsel1" not in listing, listing)


def daemon_part(zone):
    table, keyfile = keytable()
    d = Daemon()
    try:
        if not EDDSA:
            said = False
            for _ in range(100):
                said = re.search(r"institution venue: key 'venue-stxsel1' unavailable.*"
                                 r"cannot sign with ed25519-sha256", log_text()) is not None
                if said:
                    break
                time.sleep(0.1)
            check("p11dkimd says the Ed25519 institution's token cannot sign with it", said,
                  log_text()[-2000:])
        sign_corpus(table, keyfile, "through the socket")
        rotation(d, zone)
        check("p11dkimd stops cleanly", d.stop() == 0)
    finally:
        if d.p.poll() is None:
            d.p.kill()
            d.p.wait()


def main():
    t0 = time.time()
    set_up_tokens()
    mechs = token_info()
    generate()
    refusals(mechs)
    audit()
    reinit()
    zone = dns()
    daemon_part(zone)
    r = keys("audit", "mosa")
    check("audit passes after the rotation", r.returncode == 0, r.stdout + r.stderr)
    r = keys("log", "verify")
    check("the ceremony log's chain is intact", r.returncode == 0, r.stdout + r.stderr)
    print("tokens-%s: %.1f s" % (IMPL, time.time() - t0))
    sys.exit(summary("tokens-" + IMPL))


if __name__ == "__main__":
    main()
