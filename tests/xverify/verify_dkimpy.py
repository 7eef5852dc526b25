#!/usr/bin/python3
"""verify_dkimpy.py - independent DKIM verifier built on dkimpy, no network.

Usage: verify_dkimpy.py [--expect-fail] KEYTABLE FILE...

KEYTABLE: one key per line, "<selector>._domainkey.<domain> <TXT record text>",
e.g. "rsa2048._domainkey.example.org v=DKIM1; k=rsa; p=MIIBIjAN...".
Blank lines and lines starting with '#' are ignored.

Each FILE is a complete message as sent on the wire (CRLF line endings)
carrying one or more DKIM-Signature header fields. Every signature is
verified (dkim.DKIM(msg).verify(idx=i, dnsfunc=...)) with keys taken from
KEYTABLE only; dkimpy's default minkey=1024 is kept.

Output: one line per file, "PASS <file>" or "FAIL <file>: <reasons>", then
"verify_dkimpy: N passed, M failed". Without --expect-fail a file passes
when all of its signatures verify; with --expect-fail (tamper tests) it
passes when at least one signature fails. A file without any
DKIM-Signature never passes, nor does a file with a bare LF (not wire
format). Exit status 0 iff every file passed.

dkimpy 1.1.4 cannot parse a field with whitespace before the colon
("Subject : x", RFC 5322 obsolete syntax): such messages (tests/corpus/*-obs-*)
are verified by Mail::DKIM alone.
"""
import argparse
import logging
import re
import sys

import dkim


# ---------------------------------------------------------------------------
class ListHandler(logging.Handler):
    """Collects dkimpy's error log lines (key problems are only logged)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def load_keytable(path):
    table = {}
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith(b"#"):
                continue
            parts = line.split(None, 1)
            if len(parts) != 2:
                sys.exit("%s:%d: expected '<name> <TXT record>'" % (path, lineno))
            table[parts[0].lower().rstrip(b".")] = parts[1]
    return table


def verify_file(path, keys):
    """Return a list of (ok, reason) pairs, one per DKIM-Signature."""
    with open(path, "rb") as f:
        msg = f.read()
    # dkimpy would silently treat LF as CRLF (Mail::DKIM would not): refuse
    # anything that is not in wire format so both verifiers judge alike.
    bare_lf = len(re.findall(b"(?<!\r)\n", msg))
    if bare_lf:
        raise ValueError("%d bare LF line ending(s); the file must be in "
                         "wire format (CRLF)" % bare_lf)
    log = logging.getLogger("verify_dkimpy")
    log.propagate = False
    handler = ListHandler()
    log.handlers = [handler]
    missing = []

    def dnsfunc(name, timeout=5):
        key = name.lower().rstrip(b".")
        if key not in keys:
            missing.append(key.decode("ascii", "replace"))
            return None
        return keys[key]

    d = dkim.DKIM(msg, logger=log)  # minkey defaults to 1024
    nsigs = sum(1 for name, _ in d.headers
                if name.lower().rstrip(b" \t") == b"dkim-signature")
    results = []
    for idx in range(nsigs):
        handler.messages.clear()
        del missing[:]
        d.signature_fields = {}
        try:
            ok = d.verify(idx=idx, dnsfunc=dnsfunc)
            if ok:
                reason = "ok"
            elif not d.signature_fields:
                reason = "dkimpy found no usable signature header at this index"
            elif missing:
                reason = "no key for %s in keytable" % missing[0]
            elif handler.messages:
                reason = handler.messages[-1]
            else:
                reason = "signature (b=) does not verify"
        except dkim.DKIMException as e:
            # "body hash mismatch (got X, expected Y)" -> "body hash mismatch"
            ok, reason = False, "%s: %s" % (type(e).__name__,
                                            re.sub(r" \(got .*", "", str(e)))
        desc = "%s %s" % (d.signature_fields.get(b"a", b"?").decode("ascii", "replace"),
                          d.signature_fields.get(b"s", b"?").decode("ascii", "replace"))
        results.append((ok, "sig#%d(%s) %s" % (idx, desc, reason)))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--expect-fail", action="store_true",
                    help="a file passes when at least one signature fails")
    ap.add_argument("keytable")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    keys = load_keytable(args.keytable)

    npass = nfail = 0
    for path in args.files:
        try:
            results = verify_file(path, keys)
            error = None if results else "no DKIM-Signature header field"
        except Exception as e:  # unparsable message, unreadable file, ...
            results, error = [], "cannot verify: %s: %s" % (type(e).__name__, e)
        bad = [r for ok, r in results if not ok]
        if error:  # never a pass, not even with --expect-fail
            good, why = False, error
        elif args.expect_fail:
            good = bool(bad)
            why = "all signatures verified: " + "; ".join(r for _, r in results)
        else:
            good = not bad
            why = "; ".join(bad)
        if good:
            npass += 1
            if args.expect_fail:
                print("PASS %s (rejected as expected: %s)" % (path, "; ".join(bad)))
            else:
                print("PASS %s" % path)
        else:
            nfail += 1
            print("FAIL %s: %s" % (path, why))
    print("verify_dkimpy: %d passed, %d failed" % (npass, nfail))
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
