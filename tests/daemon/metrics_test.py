#!/usr/bin/python3
"""metrics_test.py - what operators watch and drive: the milter socket
of a previous configuration removed after a reload that moves it.

Run through tests/integration/run.sh.  Last line:
"metrics-test: N passed, M failed".
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "milter"))
from p11env import *  # noqa: E402,F401,F403
import milter_test  # noqa: E402

# The fronts as nobody, the signer as root (who owns the tokens).
USERS = 'user = "nobody"\n' + ONE_USER
MILTER_OPTS = "\tsingle-tenant = true\n"
MILTER2 = os.path.join(T, "milter2.sock")


def reloaded(d, before, **conf):
    """A new configuration; true once the parent says it took it."""
    write_conf(users=USERS, **conf)
    d.p.send_signal(signal.SIGHUP)
    return wait_for(lambda: log_text().count("configuration reloaded") > before, 30)


def milter_socket_moves(d):
    """A reload that moves the milter socket removes the old file."""
    before = log_text().count("configuration reloaded")
    check("reload: the milter moves to another socket",
          reloaded(d, before, milter=MILTER_OPTS, milter_path=MILTER2) and
          wait_for(lambda: os.path.exists(MILTER2), 10), log_text()[-800:])
    milter_test.MILTER = MILTER2
    check("the milter signs on its new socket", wait_for(
        lambda: milter_test.run("mosamuseum.com") == "SIGNED", 10))
    check("the old milter socket is removed once its front stopped",
          wait_for(lambda: not os.path.exists(MILTER), 15),
          log_text()[-800:])


def main():
    setup(milter=MILTER_OPTS)
    write_conf(milter=MILTER_OPTS, users=USERS)
    d = Daemon(milter=True)
    try:
        check("the milter signs", milter_test.run("mosamuseum.com") == "SIGNED")
        milter_socket_moves(d)
        rc = d.stop()
        check("p11dkimd stops cleanly", rc == 0, rc)
        check("its milter socket is removed at stop", not os.path.exists(MILTER2))
    finally:
        if d.p.poll() is None:
            d.p.kill()
    sys.exit(summary("metrics-test"))


if __name__ == "__main__":
    main()
