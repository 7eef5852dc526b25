#!/usr/bin/python3
"""tamper.py - alter a signed message the way an attacker or a broken relay
would, so that independent verifiers can show the signature no longer holds.

Usage: tamper.py MODE IN OUT
  body         change one character in the middle of the body
  append-body  add a line at the end of the body (what l= would allow)
  header       change one character of the Subject value
  add-from     add a second From field above the signed one (oversigning)
  add-subject  add a second Subject field above the signed one
"""
import sys


def split(msg):
    """Header section (with its blank line) and body of a CRLF message."""
    at = msg.find(b"\r\n\r\n")
    if at < 0:
        return msg, b""
    return msg[:at + 4], msg[at + 4:]


def tamper(mode, msg):
    head, body = split(msg)
    if mode == "body":
        if not body.strip():
            raise SystemExit("tamper.py: no body to change")
        i = len(body) // 2
        while body[i:i + 1] in (b"\r", b"\n", b" ", b"\t"):
            i += 1
        ch = b"x" if body[i:i + 1] != b"x" else b"y"
        return head + body[:i] + ch + body[i + 1:]
    if mode == "append-body":
        return head + body + b"Click here for a prize\r\n"
    if mode == "header":
        low = head.lower()
        i = low.find(b"\r\nsubject:")
        if i < 0:
            raise SystemExit("tamper.py: no Subject field")
        j = i + len(b"\r\nsubject:")
        while head[j:j + 1] in (b" ", b"\t"):
            j += 1
        ch = b"X" if head[j:j + 1] != b"X" else b"Y"
        return head[:j] + ch + head[j + 1:] + body
    if mode in ("add-from", "add-subject"):
        field = (b"From: Attacker <attacker@evil.example>\r\n"
                 if mode == "add-from" else b"Subject: You won!\r\n")
        # Above the first non-DKIM-Signature field: where a relay adds.
        lines = head.split(b"\r\n")
        i = 0
        while i < len(lines) and (lines[i].lower().startswith(b"dkim-signature:")
                                  or lines[i][:1] in (b" ", b"\t")):
            i += 1
        lines.insert(i, field[:-2])
        return b"\r\n".join(lines) + body
    raise SystemExit("tamper.py: unknown mode " + mode)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    mode, src, dst = sys.argv[1:]
    with open(src, "rb") as f:
        msg = f.read()
    with open(dst, "wb") as f:
        f.write(tamper(mode, msg))


if __name__ == "__main__":
    main()
