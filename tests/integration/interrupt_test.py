"""interrupt_test.py - a signal never kills p11dkim-keys in the middle of
a token call.

A store of several hundred SoftHSM2 tokens (TENANTS, default 300) is made
by bench/tenants_build, as tests/daemon/tenants_test.py makes it;
p11dkim-keys reaches it through tests/p11fault (libp11fault.so), whose
control file holds one call of one token ("hang"), so that the signal
arrives while that call is under way, every time.  `list` and `audit` are
sent SIGTERM, SIGINT, SIGHUP and SIGQUIT there (and once at a moment left
to chance, with no call held): the tool must outlive the signal, finish
the call, stop before the next institution, finalize the module and exit
with status 130 saying "interrupted"; a second signal only makes it say
"still finishing the token operation".  Afterwards every token is intact:
`list` (which logs in to every token) shows every institution and key as
before, and no token.object is empty.

Run through tests/integration/run.sh (P11DKIM_TEST_DIR).
Last line: "interrupt-test: N passed, M failed".
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "daemon"))
os.environ.setdefault("TENANTS", "300")
from p11env import BUILD, MOD, check, summary  # noqa: E402
import tenants_test  # noqa: E402
from tenants_test import CONF, FX, N, T, code  # noqa: E402

CTL = os.path.join(T, "p11fault.ctl")
STATS = os.path.join(T, "p11fault.stats")
OUT = os.path.join(T, "keys.out")
ERR = os.path.join(T, "keys.err")
INTERRUPTED = 130


def setup():
    """tenants_test's store and configuration, its module behind p11fault"""
    tenants_test.build_fixture()
    tenants_test.MOD = os.path.join(BUILD, "tests/libp11fault.so")
    tenants_test.write_main()
    os.environ.update(P11FAULT_MODULE=MOD, P11FAULT_CONTROL=CTL, P11FAULT_STATS=STATS,
                      P11FAULT_STATS_MS="10", P11FAULT_CHECK_MS="5")


def control(rules):
    with open(CTL + ".new", "w") as f:
        f.write(rules + "\n")
    os.rename(CTL + ".new", CTL)


def hanging():
    try:
        with open(STATS) as f:
            return sum(int(n) for n in re.findall(r"\bhanging=(\d+)", f.read()))
    except OSError:
        return 0


def start(*args):
    """p11dkim-keys args, its output into files (a full pipe would stop it)"""
    if os.path.exists(STATS):
        os.unlink(STATS)
    with open(OUT, "w") as out, open(ERR, "w") as err:
        return subprocess.Popen([os.path.join(BUILD, "p11dkim-keys"), "-c", CONF, "--operator", "test"] +
                                list(args), stdout=out, stderr=err)


def finish(p):
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    with open(OUT) as out, open(ERR) as err:
        return p.returncode, out.read(), err.read()


def listed(out):
    return sorted(set(re.findall(r"^(t\d{5}) ", out, re.M)))


def held_call(cmd, call, inst, sigs):
    """cmd held in call on inst's token; sigs sent there; then released."""
    what = "%s, %s on %s, %s" % (cmd, call, code(inst), "+".join(signal.Signals(s).name for s in sigs))
    control("%s hang label=%s" % (call, code(inst)))
    p = start(cmd)
    deadline = time.time() + 120
    while hanging() == 0 and p.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    check("%s: the call is held" % what, hanging() > 0)
    for s in sigs:
        p.send_signal(s)
        time.sleep(0.3)
    check("%s: still running after the signal(s)" % what, p.poll() is None, "status %s" % p.returncode)
    control("")
    rc, out, err = finish(p)
    check("%s: exit status %d" % (what, INTERRUPTED), rc == INTERRUPTED, "status %s: %s" % (rc, err[-600:]))
    check("%s: says interrupted" % what, "interrupted" in err, err[-600:])
    if len(sigs) > 1:
        check("%s: a second signal says it is still finishing" % what,
              "still finishing the token operation" in err, err[-600:])
    if cmd == "list":
        got = listed(out)
        check("%s: the held institution was finished, the next not begun" % what,
              code(inst) in got and code(inst + 1) not in got, got[-3:])


def chance_moment(sig, after):
    """sig at a moment left to chance, after the module is loaded (before
    that, a signal kills as usual: no token has been touched)"""
    control("")
    p = start("list")
    deadline = time.time() + 60
    while not os.path.exists(STATS) and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(after)
    p.send_signal(sig)
    rc, _, err = finish(p)
    check("list, %s %.1f s after C_Initialize: exit status %d" % (signal.Signals(sig).name, after, INTERRUPTED),
          rc == INTERRUPTED, "status %s: %s" % (rc, err[-600:]))


def intact(before):
    control("")
    rc, out, err = finish(start("list"))
    check("afterwards list logs in to all %d tokens" % N, rc == 0, err[-600:])
    check("afterwards every institution and key is listed as before", out == before,
          "%d of %d institutions" % (len(listed(out)), N))
    empty = []
    for dirpath, _, files in os.walk(os.path.join(FX, "tokens")):
        empty += [os.path.join(dirpath, f) for f in files
                  if f == "token.object" and os.path.getsize(os.path.join(dirpath, f)) == 0]
    check("no token.object is empty", not empty, empty[:3])


def main():
    setup()
    control("")
    rc, before, err = finish(start("list"))
    check("list shows all %d institutions" % N, rc == 0 and len(listed(before)) == N, err[-600:])
    held_call("list", "C_Login", N // 3, [signal.SIGTERM, signal.SIGINT])
    held_call("list", "C_FindObjectsInit", N // 2, [signal.SIGINT])
    held_call("list", "C_GetAttributeValue", 2 * N // 3, [signal.SIGHUP, signal.SIGQUIT])
    held_call("audit", "C_Login", N - 10, [signal.SIGTERM])
    chance_moment(signal.SIGTERM, 0.4)
    chance_moment(signal.SIGINT, 0.1)
    intact(before)
    sys.exit(summary("interrupt-test"))


if __name__ == "__main__":
    main()
