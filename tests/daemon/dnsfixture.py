"""dnsfixture.py - a small authoritative DNS server on loopback for the
tests (python3-dnslib): it serves the records of zone-file text, follows
a CNAME to a TXT it also holds (as a recursive resolver would), answers
NXDOMAIN for names it does not hold, and counts every query it gets,
with the time the kernel received it (SO_TIMESTAMPNS: a busy machine
that delays this thread does not bunch the times up).  The records can
be changed while it runs.

    dns = DnsFixture()            # 127.0.0.1, a free UDP port
    dns.load(text)                # replace every record
    dns.remove("name", "CNAME")   # drop records
    p11dkim-keys --resolver dns.address ...
    dns.stop()
"""
import socket
import struct
import threading

from dnslib import QTYPE, RCODE, RR, DNSRecord

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)   # Linux


def _key(name, rtype):
    return (str(name).rstrip(".").lower(), rtype)


def _arrival(ancillary):
    """The kernel's receive time of a datagram (CLOCK_REALTIME), or None."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9
    return None


class DnsFixture:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = {}
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                data, anc, _, peer = self.sock.recvmsg(4096, 256)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                request = DNSRecord.parse(data)
            except Exception:       # not a DNS message: no answer
                continue
            self.sock.sendto(self._reply(request, _arrival(anc)).pack(), peer)

    def _reply(self, request, when):
        q = request.q
        name, qtype = str(q.qname).rstrip(".").lower(), QTYPE[q.qtype]
        reply = request.reply()
        reply.header.aa = 1
        with self.lock:
            self.queries.append((when, name, qtype))
            rrs = self.answer(name, qtype)
            known = any((name, t) in self.records for t in ("CNAME", "TXT", "A", "AAAA", "NS", "SOA"))
        for rr in rrs:
            reply.add_answer(rr)
        if not rrs and not known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def answer(self, name, qtype):
        """The records for a query: the CNAME at name (and, unless the
        CNAME itself was asked for, what its target holds), or name's own."""
        cname = self.records.get(_key(name, "CNAME"), [])
        if cname and qtype != "CNAME":
            return cname + self.records.get(_key(cname[0].rdata.label, qtype), [])
        return list(self.records.get(_key(name, qtype), []))

    def load(self, text):
        """Replace every record by those of zone-file text."""
        recs = {}
        for rr in RR.fromZone(text):
            recs.setdefault(_key(rr.rname, QTYPE[rr.rtype]), []).append(rr)
        with self.lock:
            self.records = recs

    def remove(self, name, rtype):
        with self.lock:
            self.records.pop(_key(name, rtype), None)

    def set_cname(self, name, target):
        rr = RR.fromZone("%s. 300 IN CNAME %s." % (name, target))
        with self.lock:
            self.records[_key(name, "CNAME")] = rr

    def count(self):
        with self.lock:
            return len(self.queries)

    def times(self):
        with self.lock:
            return [t for t, _, _ in self.queries]

    def stop(self):
        if self.running:
            self.running = False
            self.thread.join()
            self.sock.close()
