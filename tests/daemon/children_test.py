#!/usr/bin/python3
"""children_test.py - what each child of p11dkimd holds, and how the
parent restarts them.

The daemon runs with a terminal (a pty, as `p11dkimd -f` from a shell)
and one institution's PIN given as an inherited descriptor (pin = "fd:7").
Checks: the fronts hold neither the PIN descriptor nor the terminal, have
no controlling terminal and /dev/null as stdin; the signer reads the PIN
descriptor again when it is restarted.  A front that dies leaves nothing
behind at the signer, even when its link was kept by someone else (as by
a child a compromised front forked: here the test takes a copy of the
front's link with pidfd_getfd and opens channels through it); a front
that keeps dying is restarted after a growing back-off.

Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
Last line: "children-test: N passed, M failed".
"""
import ctypes
import fcntl
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p11env import *  # noqa: E402,F401,F403

PIN_FD = 7
MSG = (b"From: Tickets <tickets@mosamuseum.com>\r\nTo: a@example.org\r\n"
       b"Subject: test\r\nMessage-ID: <c1@mosamuseum.com>\r\n\r\nHello.\r\n")


class TtyDaemon:
    """p11dkimd -f on a pseudo-terminal, mosa's PIN on descriptor 7."""

    def __init__(self):
        self.master, slave = os.openpty()
        pin = os.open(os.path.join(T, "mosa.pin"), os.O_RDONLY)

        def child():
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            os.dup2(pin, PIN_FD)
        self.p = subprocess.Popen([os.path.join(BUILD, "p11dkimd"), "-f", "-c", CONF],
                                  stdin=slave, stdout=slave, stderr=slave,
                                  pass_fds=(PIN_FD,), preexec_fn=child)
        os.close(slave)
        os.close(pin)
        self.out = bytearray()
        threading.Thread(target=self.drain, daemon=True).start()
        for _ in range(600):
            if self.p.poll() is not None or Daemon.answers():
                break
            time.sleep(0.05)

    def drain(self):
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.out += data

    def children(self):
        out = subprocess.run(["pgrep", "-P", str(self.p.pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=60)


def is_signer(pid):
    try:
        return "libsofthsm2" in open("/proc/%d/maps" % pid).read()
    except OSError:
        return False


def fd_targets(pid):
    d = "/proc/%d/fd" % pid
    out = {}
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(os.path.join(d, fd))
        except OSError:
            pass
    return out


def tty_nr(pid):
    stat = open("/proc/%d/stat" % pid).read()
    return int(stat[stat.rindex(")") + 2:].split()[4])


def try_sign():
    try:
        return sign(MSG)[0]
    except OSError as e:
        return "EXCEPTION %s" % e


def wait_for(pred, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def check_fronts(d, pin_path):
    fronts = [pid for pid in d.children() if not is_signer(pid)]
    check("a front is running", len(fronts) >= 1, repr(d.children()))
    for pid in fronts:
        fds = fd_targets(pid)
        check("front %d does not hold the PIN descriptor" % pid, pin_path not in fds.values(), repr(fds))
        check("front %d has /dev/null as stdin" % pid, fds.get(0) == "/dev/null", repr(fds.get(0)))
        ttys = [t for t in fds.values() if t.startswith("/dev/pts/") or t.startswith("/dev/tty")]
        check("front %d holds no terminal" % pid, not ttys, repr(ttys))
        check("front %d has no controlling terminal" % pid, tty_nr(pid) == 0, str(tty_nr(pid)))


SYS_PIDFD_GETFD = 438


def front_pids(d):
    return [pid for pid in d.children() if not is_signer(pid)]


def steal_link(pid):
    """A copy of a fresh front's link (its only SOCK_SEQPACKET socket)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for fd, target in fd_targets(pid).items():
            if not target.startswith("socket:"):
                continue
            n = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
            if n < 0:
                continue
            s = socket.socket(fileno=n)
            if s.type == socket.SOCK_SEQPACKET:
                return s
            s.close()
    finally:
        os.close(pidfd)
    return None


def open_channel(link):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    socket.send_fds(link, [b"C"], [b.fileno()])
    b.close()
    return a


def hung_up(sock, seconds):
    """The other end closed: end of file, or a reset (it closed with our
    messages still unread)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except (socket.timeout, OSError):
        return False


def wait_new_front(d, old, seconds):
    end = time.time() + seconds
    while time.time() < end:
        new = [pid for pid in front_pids(d) if pid not in old]
        if new:
            return new[0]
        time.sleep(0.02)
    return None


def kept_link(d):
    """A front dies while a copy of its link lives on: the signer drops it."""
    old = front_pids(d)
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    front = wait_new_front(d, old, 10)
    check("a killed front is restarted", front is not None)
    if front is None:
        return
    # Not STATS: it would open a channel to the signer (for the keys'
    # states), and the link must be the front's only SOCK_SEQPACKET socket.
    wait_for(lambda: b"p11dkimd[%d]: front ready" % front in bytes(d.out), 10)
    link = steal_link(front)
    check("a copy of the fresh front's link", link is not None)
    if link is None:
        return
    chans = [open_channel(link) for _ in range(50)]
    # A request (include/p11dkim/signer_ipc.h): magic, id, key, algorithm,
    # digest, and the trail note (752 bytes; all zero: no note).
    req = struct.pack("<IIII32s", 0x70313172, 1, 0, 1, b"\x11" * 32) + bytes(752)
    chans[0].settimeout(10)
    chans[0].send(req)
    check("the copied link signs through a channel of its own", len(chans[0].recv(2048)) > 0)
    os.kill(front, signal.SIGKILL)
    check("the front is restarted", wait_new_front(d, [front], 10) is not None)
    check("the signer drops the dead front's link though a copy lives", hung_up(link, 20))
    check("and every channel opened through it", all(hung_up(c, 2) for c in chans))
    for c in chans:
        c.close()
    link.close()
    check("signing goes on", wait_for(lambda: try_sign().startswith("OK"), 10))


def restart_backoff(d):
    """A front killed as soon as it starts comes back later and later."""
    time.sleep(QUICK_WAIT)
    starts = 0
    end = time.time() + 6
    old = front_pids(d)
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    while time.time() < end:
        new = wait_new_front(d, old, end - time.time())
        if new is None:
            break
        starts += 1
        old.append(new)
        os.kill(new, signal.SIGKILL)
    check("a front that keeps dying is restarted at most 4 times in 6 s (%d)" % starts, 1 <= starts <= 4)
    check("the back-off is logged", b"restarting it in " in bytes(d.out))
    check("after the back-off the front serves again", wait_for(lambda: try_sign().startswith("OK"), 40))


QUICK_WAIT = 11     # a front that lived this long restarts at once


def nice(pid):
    stat = open("/proc/%d/stat" % pid).read()
    return int(stat[stat.rindex(")") + 2:].split()[16])


def reload_priority(d):
    """A reload runs in the parent 10 nice levels ahead of the signing
    load (strace sees it), and nobody keeps the boost: the parent goes
    back to its start, and the children it forked meanwhile (fronts, and
    a signer if one starts) to the parent's start, not the forking
    thread's."""
    trace = os.path.join(T, "nice.trace")
    # -ff: a file per process, so that no call is cut in two by another's
    st = subprocess.Popen(["strace", "-ff", "-qq", "-o", trace, "-e", "trace=setpriority",
                           "-p", str(d.p.pid)])
    time.sleep(1.0)                     # attached
    old = set(front_pids(d))
    os.kill(d.p.pid, signal.SIGHUP)
    ok = wait_for(lambda: set(front_pids(d)) - old and not (set(front_pids(d)) & old), 30)
    check("a reload starts new fronts", ok, repr((old, front_pids(d))))
    st.send_signal(signal.SIGINT)
    st.wait(timeout=30)
    def calls(pid):
        try:
            return open("%s.%d" % (trace, pid)).read()
        except OSError:
            return ""
    boost, back = r"^setpriority\(PRIO_PROCESS, 0, -10\) += 0$", r"^setpriority\(PRIO_PROCESS, 0, 0\) += 0$"
    check("the reload is boosted: setpriority(..., -10) in the parent",
          re.search(boost, calls(d.p.pid), re.M), calls(d.p.pid))
    check("and the parent goes back: setpriority(..., 0) after it",
          re.search(back, calls(d.p.pid), re.M), calls(d.p.pid))
    check("every new child sets its priority back to the parent's start",
          all(re.search(back, calls(pid), re.M) for pid in front_pids(d)),
          [(pid, calls(pid)) for pid in front_pids(d)])
    for pid in [d.p.pid] + d.children():
        check("process %d runs at nice 0 after the reload" % pid, nice(pid) == 0, str(nice(pid)))


def main():
    setup()
    pin_path = os.path.join(T, "mosa.pin")
    text = open(CONF).read().replace('pin = "file:%s"' % pin_path, 'pin = "fd:%d"' % PIN_FD)
    with open(CONF, "w") as f:
        f.write(text)
    d = TtyDaemon()
    try:
        check("the daemon starts with a PIN descriptor and a terminal", Daemon.answers(),
              d.out.decode(errors="replace")[-2000:])
        status = try_sign()
        check("mosa signs with the PIN from its descriptor", status.startswith("OK"), status)
        check_fronts(d, pin_path)
        signers = [pid for pid in d.children() if is_signer(pid)]
        check("one signer", len(signers) == 1, repr(signers))
        if signers:
            os.kill(signers[0], signal.SIGKILL)
            ok = wait_for(lambda: try_sign().startswith("OK"), 30)
            check("a restarted signer reads the PIN descriptor again and signs", ok,
                  d.out.decode(errors="replace")[-2000:])
            check_fronts(d, pin_path)
        kept_link(d)
        reload_priority(d)
        restart_backoff(d)
        check("the daemon stops on SIGTERM", d.stop() == 0)
    finally:
        if d.p.poll() is None:
            d.p.kill()
    sys.exit(summary("children-test"))


if __name__ == "__main__":
    main()
