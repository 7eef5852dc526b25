/*
 * child.c - the start of every child of p11dkimd (see child.h).
 *
 * Security: the parent may hold a PIN descriptor (pin = "fd:N"), the
 * terminal a PIN is typed on (pin = "prompt"), other generations' links
 * and its listeners.  A child keeps only what it was given to keep.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "p11dkim/log.h"
#include "child.h"

#define RELAY_BUF	8192
#define BOOST		10		/* nice levels of a reload's boost */

static int base_nice;			/* the parent's at its start */

/* What the relay thread is started with. */
struct relay_start {
	int	 fd;			/* the pipe's read end */
	sem_t	 running;		/* posted once the thread runs */
};

/* child_priority_base - the priority children get back */
void
child_priority_base(void)
{
	int	 n;

	errno = 0;
	n = getpriority(PRIO_PROCESS, 0);
	if (n != -1 || errno == 0)
		base_nice = n;
}

/* child_priority_boost - the calling thread ahead of the load, or not */
void
child_priority_boost(int on)
{
	int	 n = on ? base_nice - BOOST : base_nice;

	(void)setpriority(PRIO_PROCESS, 0, n < -20 ? -20 : n);
}

/* child_priority - back to the parent's start priority */
void
child_priority(void)
{
	(void)setpriority(PRIO_PROCESS, 0, base_nice);
}

/*
 * child_signals - default signal actions, nothing blocked; SIGUSR1 (the
 * parent's, to reopen the trail) ignored, so that one sent to the whole
 * service (systemctl kill) does not end a child
 */
void
child_signals(void)
{
	sigset_t all;

	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGUSR1, SIG_IGN);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
}

/*
 * child_files - a front may open as many descriptors as the hard limit
 * allows: one per client and per channel to the signer (the soft limit is
 * often 1024).  Not the signer: a PKCS#11 module may use select(), which
 * cannot take a descriptor of 1024 or more.
 */
void
child_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* int_cmp - for qsort */
static int
int_cmp(const void *a, const void *b)
{
	int	 x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* close_above - every descriptor from lo up, but those in sorted keep */
static void
close_above(int lo, const int *keep, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < lo)
			continue;
		if (keep[i] > lo)
			(void)close_range((unsigned)lo, (unsigned)keep[i] - 1, 0);
		lo = keep[i] + 1;
	}
	(void)close_range((unsigned)lo, ~0U, 0);
}

/* child_descriptors - /dev/null in and out; keep only what is asked */
int
child_descriptors(const int *keep, size_t n)
{
	int	 sorted[CHILD_KEEP_MAX], null;

	if (n > CHILD_KEEP_MAX)
		n = CHILD_KEEP_MAX;
	memcpy(sorted, keep, n * sizeof(int));
	qsort(sorted, n, sizeof(int), int_cmp);
	close_above(STDERR_FILENO + 1, sorted, n);
	if ((null = open("/dev/null", O_RDWR)) < 0)
		return -1;
	(void)dup2(null, STDIN_FILENO);
	(void)dup2(null, STDOUT_FILENO);
	if (null > STDERR_FILENO && bsearch(&null, sorted, n, sizeof(int),
	    int_cmp) == NULL)
		close(null);
	return 0;
}

/* child_detach - a session of its own: no controlling terminal */
void
child_detach(void)
{
	(void)setsid();
}

/* write_all - all of buf to fd */
static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/*
 * relay - copy the fronts' lines to the terminal, whole lines at a time
 * so that they never mix with the parent's own
 */
static void *
relay(void *arg)
{
	struct relay_start *st = arg;
	int	 fd = st->fd;
	char	 buf[RELAY_BUF];
	size_t	 len = 0, keep;
	ssize_t	 n;
	char	*lf;

	sem_post(&st->running);		/* st is gone from here on */
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		lf = memrchr(buf, '\n', len);
		if (lf == NULL && len < sizeof(buf))
			continue;
		keep = lf ? len - (size_t)(lf + 1 - buf) : 0;
		write_all(STDERR_FILENO, buf, len - keep);
		memmove(buf, buf + len - keep, keep);
		len = keep;
	}
	write_all(STDERR_FILENO, buf, len);
	close(fd);
	return NULL;
}

/* child_stderr_relay - a pipe for the fronts' stderr when it is a tty */
int
child_stderr_relay(void)
{
	struct relay_start st;
	pthread_t th;
	int	 p[2];

	if (!isatty(STDERR_FILENO))
		return -1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_warn("no stderr relay for the fronts: %s", strerror(errno));
		return -1;
	}
	/* A front never waits for the parent: a line that does not fit is
	 * lost rather than stalling a request. */
	(void)fcntl(p[1], F_SETFL, O_NONBLOCK);
	st.fd = p[0];
	if (sem_init(&st.running, 0, 0) < 0 ||
	    pthread_create(&th, NULL, relay, &st) != 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	/*
	 * The parent forks its children next: not while the new thread may
	 * still be setting itself up (a sanitizer's runtime allocates then,
	 * and a child forked meanwhile would wait for its allocator lock
	 * for ever).  Once running, the thread only reads and writes.
	 */
	while (sem_wait(&st.running) < 0 && errno == EINTR)
		;
	sem_destroy(&st.running);
	pthread_detach(th);
	return p[1];
}
