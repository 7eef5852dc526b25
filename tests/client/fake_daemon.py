#!/usr/bin/python3
# fake_daemon.py - a stand-in for p11dkimd that speaks docs/PROTOCOL.md.
#
#   fake_daemon.py SOCKET LOG
#
# Listens on the Unix socket SOCKET and answers each SIGN ... END by the
# message's Subject (looked for in its first 64 KiB):
#   permfail  PERMFAIL (a bad message)     notauth  PERMFAIL not authorized
#   tempfail  TEMPFAIL (token unavailable)  early    PERMFAIL after the first
#   twosig    OK with two fields, folded              DATA frame, then close
#   stall     no answer at all (for client timeouts)
#   anything else: OK "DKIM-Signature: v=1; a=rsa-sha256; b=x\r\n"
# Appends one line per request to LOG:
#   domain=D bytes=N frames=K maxframe=M verdict=V
# Strict like the real daemon: a framing error gets PERMFAIL and a close.
import os
import re
import socketserver
import sys
import threading

FIELD = b"DKIM-Signature: v=1; a=rsa-sha256; b=x\r\n"
TWO = (b"DKIM-Signature: v=1; a=ed25519-sha256; d=example.org;\r\n"
       b"\tb=y\r\n" + FIELD)
HEAD_MAX = 64 * 1024
FRAME_MAX = 1024 * 1024
LOG_LOCK = threading.Lock()


def subject_of(head):
    """The first Subject field's value, lower case, or ''."""
    m = re.search(rb"(?im)^subject:[ \t]*([^\r\n]*)", head)
    return m.group(1).strip().lower().decode("ascii", "replace") if m else ""


def verdict_for(subject):
    """The reply line (and fields) for a message with this Subject."""
    if subject == "permfail":
        return b"PERMFAIL bad message: no From field\n", b""
    if subject == "notauth":
        return b"PERMFAIL not authorized: uid 1000 may not sign for example.org\n", b""
    if subject == "tempfail":
        return b"TEMPFAIL token unavailable\n", b""
    fields = TWO if subject == "twosig" else FIELD
    return b"OK %d\n" % len(fields), fields


class Handler(socketserver.StreamRequestHandler):
    def reply(self, line, payload=b""):
        self.wfile.write(line + payload)
        self.wfile.flush()

    def log(self, text):
        with LOG_LOCK, open(self.server.log_path, "a") as f:
            f.write(text + "\n")

    def framing_error(self, why):
        self.reply(b"PERMFAIL " + why.encode() + b"\n")
        self.log("framing-error " + why)

    def handle(self):
        while True:
            line = self.rfile.readline(1025)
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            if cmd == b"QUIT":
                return
            if cmd == b"STATS":
                text = b"p11dkim_requests_total 1\n"
                self.reply(b"OK %d\n" % len(text), text)
                continue
            if cmd != b"SIGN":
                return self.framing_error("unknown command")
            if not self.one_request():
                return

    def one_request(self):
        """Read OPTION/DATA/END and answer; False: close the connection."""
        domain, head, size, frames, maxframe = "-", b"", 0, 0, 0
        while True:
            line = self.rfile.readline(1025)
            if not line:
                return False
            cmd = line.rstrip(b"\r\n")
            if cmd.startswith(b"OPTION domain=") and frames == 0:
                domain = cmd[len(b"OPTION domain="):].decode()
                continue
            if cmd == b"END":
                break
            m = re.fullmatch(rb"DATA ([1-9][0-9]{0,6})", cmd)
            if not m or int(m.group(1)) > FRAME_MAX:
                self.framing_error("bad frame %r" % cmd[:40])
                return False
            n = int(m.group(1))
            data = self.rfile.read(n)
            if len(data) != n:
                return False
            frames, size = frames + 1, size + n
            maxframe = max(maxframe, n)
            if len(head) < HEAD_MAX:
                head += data[:HEAD_MAX - len(head)]
            if frames == 1 and subject_of(head) == "early":
                self.reply(b"PERMFAIL message too large\n")
                self.log("domain=%s bytes=%d frames=1 maxframe=%d verdict=early"
                         % (domain, size, maxframe))
                return False
        if subject_of(head) == "stall":
            self.log("domain=%s bytes=%d frames=%d maxframe=%d verdict=stall"
                     % (domain, size, frames, maxframe))
            while self.rfile.read(4096):
                pass            # never answer; wait for the client to go
            return False
        line, fields = verdict_for(subject_of(head))
        self.log("domain=%s bytes=%d frames=%d maxframe=%d verdict=%s"
                 % (domain, size, frames, maxframe, line.split()[0].decode()))
        self.reply(line, fields)
        return True


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def main():
    path, log_path = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    with Server(path, Handler) as server:
        server.log_path = log_path
        server.serve_forever()


if __name__ == "__main__":
    main()
