/*
 * sysinject.c - make a running process execute one system call, from
 * outside, to test its seccomp filter (tests/daemon, tests/milter).
 *
 *   sysinject PID CALL
 *
 * Thread PID (a process's main thread, blocked in a system call: the
 * daemon's children always are, waiting for work) is stopped with
 * ptrace, made to execute CALL (a name, such as execve or getppid) with
 * every argument 0, and let go where it was, its interrupted call
 * restarted.  The process's own code is not involved: what runs is
 * exactly what its filter lets through.
 *
 * Prints "returned N" and exits 0 when the call ran; prints "killed by
 * signal N" and exits 3 when the process died of it; exits 1 on errors
 * (no such process, not permitted, not an x86-64 process).
 *
 * Security: needs CAP_SYS_PTRACE for a process that is not dumpable (the
 * daemon's fronts and signer); the tests run as root.
 */
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#define TRIES		200	/* to find the thread inside a system call */
#define SYSCALL_INSN	0x050f	/* x86-64 "syscall", little-endian */
#define ERESTARTSYS	512	/* the kernel's restart codes */
#define ERESTARTNOINTR	513
#define ERESTARTNOHAND	514
#define ERESTART_RESTARTBLOCK 516

#if !defined(__x86_64__)
#error "sysinject knows the x86-64 registers only"
#endif

/* fail - say why and exit 1 */
static void __attribute__((noreturn))
fail(const char *what)
{
	fprintf(stderr, "sysinject: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* wait_stop - the next stop of tid; returns its status */
static int
wait_stop(pid_t tid)
{
	int	 st;

	while (waitpid(tid, &st, __WALL) < 0)
		if (errno != EINTR)
			fail("waitpid");
	return st;
}

/* died - the exit event of tid: report it and let the process go */
static void __attribute__((noreturn))
died(pid_t tid)
{
	unsigned long st = 0;

	(void)ptrace(PTRACE_GETEVENTMSG, tid, 0, &st);
	(void)ptrace(PTRACE_DETACH, tid, 0, 0);
	if (WIFSIGNALED((int)st)) {
		printf("killed by signal %d\n", WTERMSIG((int)st));
		exit(3);
	}
	printf("exited %d\n", WEXITSTATUS((int)st));
	exit(1);
}

/* is_exit_event - the stop is PTRACE_EVENT_EXIT */
static int
is_exit_event(int st)
{
	return WIFSTOPPED(st) && (st >> 8) == (SIGTRAP | (PTRACE_EVENT_EXIT << 8));
}

/*
 * stop_in_syscall - stop tid while it waits inside a system call (its
 * ip is then just past a syscall instruction); 0, or -1 after TRIES
 */
static int
stop_in_syscall(pid_t tid, struct user_regs_struct *saved)
{
	long	 insn;

	for (int i = 0; i < TRIES; i++) {
		if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD |
		    PTRACE_O_TRACEEXIT) < 0)
			fail("PTRACE_SEIZE");
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
			fail("PTRACE_INTERRUPT");
		(void)wait_stop(tid);
		if (ptrace(PTRACE_GETREGS, tid, 0, saved) < 0)
			fail("PTRACE_GETREGS");
		errno = 0;
		insn = ptrace(PTRACE_PEEKTEXT, tid, saved->rip - 2, 0);
		if ((long)saved->orig_rax >= 0 && errno == 0 &&
		    (insn & 0xffff) == SYSCALL_INSN)
			return 0;
		if (ptrace(PTRACE_DETACH, tid, 0, 0) < 0)
			fail("PTRACE_DETACH");
		usleep(10000);
	}
	return -1;
}

/*
 * resume_regs - the registers to go on with: the interrupted call
 * restarted as the kernel would have, had it not been stopped
 */
static struct user_regs_struct
resume_regs(const struct user_regs_struct *saved)
{
	struct user_regs_struct r = *saved;
	long	 rv = (long)saved->rax;

	if (rv == -ERESTARTSYS || rv == -ERESTARTNOINTR ||
	    rv == -ERESTARTNOHAND) {
		r.rax = saved->orig_rax;
		r.rip -= 2;
	} else if (rv == -ERESTART_RESTARTBLOCK) {
		r.rax = (unsigned long long)seccomp_syscall_resolve_name(
		    "restart_syscall");
		r.rip -= 2;
	}
	r.orig_rax = (unsigned long long)-1;
	return r;
}

/*
 * sigsys_pending - a filter that kills leaves SIGSYS pending at the
 * system call's exit stop (the call itself skipped), to be delivered
 * when the thread goes on
 */
static int
sigsys_pending(pid_t tid)
{
	char	 path[64], line[256];
	unsigned long long mask = 0;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if ((f = fopen(path, "r")) == NULL)
		fail(path);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "SigPnd: %llx", &mask) == 1 ||
		    sscanf(line, "ShdPnd: %llx", &mask) == 1)
			if (mask & (1ULL << (SIGSYS - 1)))
				break;
	fclose(f);
	return (mask & (1ULL << (SIGSYS - 1))) != 0;
}

/* step - on to the next system call stop; an exit reports and ends */
static void
step(pid_t tid)
{
	int	 st;

	if (ptrace(PTRACE_SYSCALL, tid, 0, 0) < 0)
		fail("PTRACE_SYSCALL");
	st = wait_stop(tid);
	if (is_exit_event(st))
		died(tid);
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != (SIGTRAP | 0x80)) {
		errno = EPROTO;
		fail("unexpected stop");
	}
}

int
main(int argc, char **argv)
{
	struct user_regs_struct saved, r;
	pid_t	 tid;
	int	 nr;

	if (argc != 3 || (tid = (pid_t)atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: sysinject PID CALL\n");
		return 1;
	}
	if ((nr = seccomp_syscall_resolve_name(argv[2])) == __NR_SCMP_ERROR) {
		fprintf(stderr, "sysinject: no system call %s\n", argv[2]);
		return 1;
	}
	if (stop_in_syscall(tid, &saved) < 0) {
		fprintf(stderr, "sysinject: %d never waits in a system call\n",
		    (int)tid);
		return 1;
	}
	r = saved;
	r.rax = (unsigned long long)nr;
	r.orig_rax = (unsigned long long)-1;	/* no restart of the old call */
	r.rip -= 2;				/* the syscall instruction */
	r.rdi = r.rsi = r.rdx = r.r10 = r.r8 = r.r9 = 0;
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0)
		fail("PTRACE_SETREGS");
	step(tid);				/* entry: the filter is next */
	step(tid);				/* exit: it ran, or not */
	if (sigsys_pending(tid)) {
		if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
			fail("PTRACE_CONT");
		if (is_exit_event(wait_stop(tid)))
			died(tid);
		errno = EPROTO;
		fail("SIGSYS pending, but no exit");
	}
	if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
		fail("PTRACE_GETREGS");
	printf("returned %lld\n", (long long)r.rax);
	r = resume_regs(&saved);
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0 ||
	    ptrace(PTRACE_DETACH, tid, 0, 0) < 0)
		fail("restoring the thread");
	return 0;
}
