/*
 * sandbox.c - the system call filters of p11dkimd's processes (see
 * include/p11dkim/sandbox.h and docs/p11dkimd.md, "Sandbox").
 *
 * The fronts parse what clients send, so they get an allow-list: the
 * calls they make while serving, found by tracing every test that runs
 * the daemon (strace -f, the calls after PR_SET_NO_NEW_PRIVS), and a
 * few a rarer path needs (each says why).  Anything else kills the
 * process with SIGSYS, but opening a file to read, which fails (EACCES).
 * Arguments narrow some calls: threads but no processes, no executable
 * memory, Unix sockets only, and files to write only for the milter's
 * counters.  What glibc and OpenSSL read once, lazily (the time zone,
 * openssl.cnf), is read before the filter is loaded.
 *
 * The signer runs the PKCS#11 module, which may open files, sockets and
 * threads whenever it likes: it gets a deny-list of what no module
 * needs and an intruder would want (programs, processes, tracing,
 * namespaces, mounts, kernel modules, BPF, kexec, identities, io_uring,
 * whose operations would bypass the filter).
 *
 * Sanitizer builds (make SAN=1) make further calls; they are added at
 * compile time (SANITIZER_BUILD), never to a production list.
 *
 * Security: the filters are loaded with TSYNC, so every thread of the
 * process has them, the module's threads too.  A filter that cannot be
 * loaded is an error: the process does not serve without it, unless the
 * configuration says `sandbox = false`.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <seccomp.h>

#include "p11dkim/log.h"
#include "p11dkim/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD	1
#endif
#endif

/* A front reading a file: refused, but allowed for a sanitizer's report. */
#ifdef SANITIZER_BUILD
#define READ_OPEN_ACTION	SCMP_ACT_ALLOW
#else
#define READ_OPEN_ACTION	SCMP_ACT_ERRNO(EACCES)
#endif

/* Both fronts: memory, threads, signals, time, sockets they were given. */
static const char *const front_calls[] = {
	"brk", "mremap", "munmap", "madvise",	/* malloc; mmap below */
	"set_robust_list", "rseq", "futex", "exit", "exit_group",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	"restart_syscall",	/* a wait interrupted by a stop resumes */
	"getpid",
	"geteuid",		/* STATS: the front's own user may read it */
	"sched_getaffinity",	/* malloc, past 8 arenas: how many CPUs */
	"clock_gettime", "gettimeofday",	/* when the vDSO cannot */
	"nanosleep", "clock_nanosleep",
	"poll", "read", "write", "recvfrom", "sendto", "sendmsg", "close",
	"getsockopt", "setsockopt",
	NULL
};

/*
 * The native front: clients on the listeners the parent bound, and on
 * metrics-listen (TCP: accepted, never created; metrics_http.c).
 */
static const char *const native_calls[] = {
	"accept4",
	NULL
};

/* Not for a filter to judge (its flags are behind a pointer): fails. */
static const char *const no_clone3[] = {
	"clone3",
	NULL
};

/* The milter front: what libmilter does besides. */
static const char *const milter_calls[] = {
	"accept", "writev", "pipe2", "rt_sigtimedwait",
	/* at stop, libmilter removes its Unix socket when not root */
	"newfstatat", "unlink",
	NULL
};

/* With log = "syslog": glibc's syslog() reconnects to /dev/log. */
static const char *const syslog_calls[] = {
	"connect",		/* socket() below, Unix only */
	NULL
};

/* The milter's counters: written anew, renamed into place (fopen "w"). */
static const char *const stats_calls[] = {
	"rename",
	NULL
};

#ifdef SANITIZER_BUILD
/*
 * What the sanitizers' runtime adds: each new thread's stack bounds
 * (pthread_getattr_np) and alternate signal stack; its spin locks, which
 * yield the CPU when threads contend (many ending at once in a drain);
 * and for a report, the process's maps, debug information (read-only:
 * READ_OPEN_ACTION) and whether stderr is a terminal, so that a finding
 * is printed rather than cut off by SIGSYS.
 */
static const char *const sanitizer_calls[] = {
	"sigaltstack", "gettid", "sched_yield",
	"readlink", "newfstatat", "lseek", "pread64", "pipe2",
	NULL
};
#endif

/* The signer: what no PKCS#11 module needs. */
static const char *const signer_denied[] = {
	"execve", "execveat", "fork", "vfork",
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise",
	"pidfd_getfd", "kcmp",
	"mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	"unshare", "setns",
	"bpf", "perf_event_open", "userfaultfd",
	"kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
	"setgroups", "setfsuid", "setfsgid", "capset", "personality",
	"keyctl", "add_key", "request_key",
	"name_to_handle_at", "open_by_handle_at",
	"reboot", "swapon", "swapoff", "acct", "syslog", "quotactl",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "iopl", "ioperm",
	NULL
};

/* add_list - each call of list with action; unknown names (another
 * architecture's) are skipped.  0 or -1 */
static int
add_list(scmp_filter_ctx ctx, uint32_t action, const char *const *list)
{
	int	 nr;

	for (; *list != NULL; list++) {
		if ((nr = seccomp_syscall_resolve_name(*list)) == __NR_SCMP_ERROR)
			continue;
		if (seccomp_rule_add(ctx, action, nr, 0) < 0) {
			log_err("sandbox: cannot add %s to the filter", *list);
			return -1;
		}
	}
	return 0;
}

/* rule - one call with one argument condition; 0 or -1 */
static int
rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    struct scmp_arg_cmp cmp)
{
	int	 nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	if (seccomp_rule_add(ctx, action, nr, 1, cmp) < 0) {
		log_err("sandbox: cannot add %s to the filter", name);
		return -1;
	}
	return 0;
}

/*
 * front_rules - threads but no processes (clone3 fails: glibc then uses
 * clone, whose flags a filter sees); no executable memory; Unix
 * socketpairs to the signer; abort() may still raise SIGABRT on itself;
 * a file opened for reading is refused (EACCES), not fatal: glibc's
 * malloc reads /proc/sys/vm/overcommit_memory the first time it gives a
 * thread's memory back, and does without.
 */
static int
front_rules(scmp_filter_ctx ctx)
{
	uint32_t allow = SCMP_ACT_ALLOW;
	int	 nr = seccomp_syscall_resolve_name("tgkill");

	if (nr != __NR_SCMP_ERROR && seccomp_rule_add(ctx, allow, nr, 2,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()),
	    SCMP_A2(SCMP_CMP_EQ, SIGABRT)) < 0) {
		log_err("sandbox: cannot add tgkill to the filter");
		return -1;
	}
	return rule(ctx, allow, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ,
	    CLONE_THREAD, CLONE_THREAD)) < 0 ||
	    add_list(ctx, SCMP_ACT_ERRNO(ENOSYS), no_clone3) < 0 ||
	    rule(ctx, allow, "mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC,
	    0)) < 0 ||
	    rule(ctx, allow, "mprotect", SCMP_A2(SCMP_CMP_MASKED_EQ,
	    PROT_EXEC, 0)) < 0 ||
	    rule(ctx, allow, "socketpair", SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0 ||
	    rule(ctx, READ_OPEN_ACTION, "openat", SCMP_A2(SCMP_CMP_MASKED_EQ,
	    O_ACCMODE, O_RDONLY)) < 0 ? -1 : 0;
}

/* syslog_rules - a Unix socket, connected again when it must */
static int
syslog_rules(scmp_filter_ctx ctx)
{
	return rule(ctx, SCMP_ACT_ALLOW, "socket", SCMP_A0(SCMP_CMP_EQ,
	    AF_UNIX)) < 0 || add_list(ctx, SCMP_ACT_ALLOW, syslog_calls) < 0 ?
	    -1 : 0;
}

/* milter_rules - libmilter's descriptor flags; the counters file */
static int
milter_rules(scmp_filter_ctx ctx, const struct conf *c)
{
	static const int cmds[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (rule(ctx, SCMP_ACT_ALLOW, "fcntl", SCMP_A1(SCMP_CMP_EQ,
		    (scmp_datum_t)cmds[i])) < 0)
			return -1;
	if (c->daemon.milter->stats_file == NULL)
		return 0;
	return rule(ctx, SCMP_ACT_ALLOW, "openat", SCMP_A2(SCMP_CMP_MASKED_EQ,
	    O_ACCMODE, O_WRONLY)) < 0 || add_list(ctx, SCMP_ACT_ALLOW,
	    stats_calls) < 0 ? -1 : 0;
}

#ifdef SANITIZER_BUILD
/* sanitizer_rules - the list above, open(2) read-only, TCGETS */
static int
sanitizer_rules(scmp_filter_ctx ctx)
{
	uint32_t allow = SCMP_ACT_ALLOW;

	return add_list(ctx, allow, sanitizer_calls) < 0 ||
	    rule(ctx, allow, "open", SCMP_A1(SCMP_CMP_MASKED_EQ, O_ACCMODE,
	    O_RDONLY)) < 0 ||
	    rule(ctx, allow, "fcntl", SCMP_A1(SCMP_CMP_EQ, F_SETFD)) < 0 ||
	    rule(ctx, allow, "ioctl", SCMP_A1(SCMP_CMP_EQ, TCGETS)) < 0 ?
	    -1 : 0;
}
#endif

/* front_filter - the allow-list of a front */
static int
front_filter(scmp_filter_ctx ctx, enum sandbox_role role,
    const struct conf *c)
{
	if (add_list(ctx, SCMP_ACT_ALLOW, front_calls) < 0 ||
	    front_rules(ctx) < 0 ||
	    (!c->daemon.log_stderr && syslog_rules(ctx) < 0))
		return -1;
#ifdef SANITIZER_BUILD
	if (sanitizer_rules(ctx) < 0)
		return -1;
#endif
	if (role == SANDBOX_FRONT)
		return add_list(ctx, SCMP_ACT_ALLOW, native_calls);
	return add_list(ctx, SCMP_ACT_ALLOW, milter_calls) < 0 ||
	    milter_rules(ctx, c) < 0 ? -1 : 0;
}

/* signer_filter - the deny-list of the signer; new processes too */
static int
signer_filter(scmp_filter_ctx ctx)
{
	uint32_t kill = SCMP_ACT_KILL_PROCESS;

	return add_list(ctx, kill, signer_denied) < 0 ||
	    rule(ctx, kill, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
	    0)) < 0 ||
	    add_list(ctx, SCMP_ACT_ERRNO(ENOSYS), no_clone3) < 0 ? -1 : 0;
}

/*
 * warm_up - what glibc and OpenSSL do once, on first use, and which
 * reads files: the time zone (the first time stamp of a log line) and
 * OpenSSL's configuration (the first digest).
 */
static void
warm_up(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];

	tzset();
	(void)EVP_Digest("", 0, md, NULL, EVP_sha256(), NULL);
}

/* load - build the role's filter and load it on every thread */
static int
load(enum sandbox_role role, const struct conf *c)
{
	scmp_filter_ctx ctx;
	int	 rc;

	ctx = seccomp_init(role == SANDBOX_SIGNER ? SCMP_ACT_ALLOW :
	    SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL) {
		log_err("sandbox: cannot make a system call filter");
		return -1;
	}
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		log_err("sandbox: the seccomp(2) system call is not available "
		    "(%s): no filter can hold all threads (a service manager's "
		    "own filter must allow seccomp; `sandbox = false` runs "
		    "without)", strerror(-rc));
	else if ((rc = role == SANDBOX_SIGNER ? signer_filter(ctx) :
	    front_filter(ctx, role, c)) == 0 && (rc = seccomp_load(ctx)) < 0)
		log_err("sandbox: cannot load the system call filter: %s "
		    "(`sandbox = false` runs without)", strerror(-rc));
	seccomp_release(ctx);
	return rc < 0 ? -1 : 0;
}

/* sandbox_enter - no new privileges, not dumpable, the role's filter */
int
sandbox_enter(enum sandbox_role role, const struct conf *c)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    (role != SANDBOX_SIGNER && prctl(PR_SET_DUMPABLE, 0) < 0)) {
		log_err("sandbox: %s", strerror(errno));
		return -1;
	}
	if (!c->daemon.sandbox)
		return 0;
	if (role != SANDBOX_SIGNER)
		warm_up();
	return load(role, c);
}
