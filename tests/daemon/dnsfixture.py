"""dnsfixture.py - a small authoritative DNS server on loopback for the
tests (python3-dnslib): it serves the records of zone-file text, follows
a CNAME to a TXT it also holds (as a recursive resolver would), answers
NXDOMAIN for names it does not hold, and counts every query it gets,
with the time it came.  The records can be changed while it runs.

    dns = DnsFixture()            # 127.0.0.1, a free UDP port
    dns.load(text)                # replace every record
    dns.remove("name", "CNAME")   # drop records
    p11dkim-keys --resolver dns.address ...
    dns.stop()
"""
import threading
import time

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def _key(name, rtype):
    return (str(name).rstrip(".").lower(), rtype)


class _Resolver(BaseResolver):
    def __init__(self, fixture):
        self.f = fixture

    def resolve(self, request, handler):
        q = request.q
        name, qtype = str(q.qname), QTYPE[q.qtype]
        reply = request.reply()
        reply.header.aa = 1
        with self.f.lock:
            self.f.queries.append((time.monotonic(), name.rstrip(".").lower(), qtype))
            rrs = self.f.answer(name, qtype)
            known = any(k[0] == name.rstrip(".").lower() for k in self.f.records)
        for rr in rrs:
            reply.add_answer(rr)
        if not rrs and not known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class DnsFixture:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = {}
        self.queries = []
        self.server = DNSServer(_Resolver(self), port=0, address="127.0.0.1",
                                logger=DNSLogger(logf=lambda s: None))
        self.server.start_thread()
        self.port = self.server.server.server_address[1]
        self.address = "127.0.0.1:%d" % self.port

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
        self.server.stop()
