#!/usr/bin/python3
"""children_test.py - what each child of p11dkimd holds, and how the
parent restarts them.

The daemon runs with a terminal (a pty, as `p11dkimd -f` from a shell)
and one institution's PIN given as an inherited descriptor (pin = "fd:7").
Checks: the fronts hold neither the PIN descriptor nor the terminal, have
no controlling terminal and /dev/null as stdin; the signer reads the PIN
descriptor again when it is restarted.

Run through tests/integration/run.sh (SOFTHSM2_CONF, P11DKIM_TEST_DIR).
Last line: "children-test: N passed, M failed".
"""
import fcntl
import os
import signal
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
        check("the daemon stops on SIGTERM", d.stop() == 0)
    finally:
        if d.p.poll() is None:
            d.p.kill()
    sys.exit(summary("children-test"))


if __name__ == "__main__":
    main()
