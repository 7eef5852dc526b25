/*
 * front.c - the native front process: accept connections on the
 * listeners and serve each in a thread of its own, at most `workers` at
 * once; a connection beyond that gets a prompt TEMPFAIL (backpressure),
 * never a queue that grows.  On SIGTERM: stop accepting, let the
 * connections in flight finish (up to drain-timeout), exit 0.  When the
 * signer is gone, exit the same way (75): the parent starts a new front
 * with a link to the new signer.
 *
 * Security: runs as the unprivileged user, without the PKCS#11 module
 * and without PINs; it can only ask the signer for signatures by key
 * number.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/log.h"
#include "p11dkim/sandbox.h"
#include "p11dkim/signer_ipc.h"
#include "front.h"

#define THREAD_STACK	(256 * 1024)
#define TICK_MS		200

struct pool {
	struct front f;
	pthread_mutex_t mu;
	pthread_cond_t idle;		/* a connection ended */
	unsigned active;
	unsigned max;
};

struct job {
	struct pool *pool;
	int	 fd;
};

static volatile sig_atomic_t stop_requested;

/* on_term - SIGTERM: stop accepting and drain */
static void
on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* serve - a connection thread */
static void *
serve(void *arg)
{
	struct job *j = arg;
	struct pool *p = j->pool;

	conn_serve(&p->f, j->fd);
	free(j);
	pthread_mutex_lock(&p->mu);
	p->active--;
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* dispatch - a thread for a new connection, or a prompt refusal */
static void
dispatch(struct pool *p, pthread_attr_t *attr, int fd)
{
	struct job *j;
	pthread_t th;

	pthread_mutex_lock(&p->mu);
	if (p->active >= p->max || (j = malloc(sizeof(*j))) == NULL) {
		pthread_mutex_unlock(&p->mu);
		stats_busy(p->f.stats);
		conn_refuse_busy(fd);
		return;
	}
	p->active++;
	pthread_mutex_unlock(&p->mu);
	j->pool = p;
	j->fd = fd;
	if (pthread_create(&th, attr, serve, j) != 0) {
		free(j);
		pthread_mutex_lock(&p->mu);
		p->active--;
		pthread_mutex_unlock(&p->mu);
		conn_refuse_busy(fd);
	}
}

/* accept_loop - until SIGTERM or the signer is gone */
static void
accept_loop(struct pool *p, const int *fds, size_t n)
{
	struct pollfd pfd[16];
	pthread_attr_t attr;
	int	 fd;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (size_t i = 0; i < n && i < 16; i++)
		pfd[i] = (struct pollfd){ fds[i], POLLIN, 0 };
	while (!stop_requested && !signer_ipc_broken(p->f.signer)) {
		if (poll(pfd, n, TICK_MS) <= 0)
			continue;
		for (size_t i = 0; i < n && i < 16; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				dispatch(p, &attr, fd);
		}
	}
	pthread_attr_destroy(&attr);
}

/* drain - wait for the connections in flight, up to seconds */
static unsigned
drain(struct pool *p, unsigned seconds)
{
	struct timespec until;
	unsigned left;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&p->mu);
	while (p->active > 0 &&
	    pthread_cond_timedwait(&p->idle, &p->mu, &until) != ETIMEDOUT)
		;
	left = p->active;
	pthread_mutex_unlock(&p->mu);
	return left;
}

/* front_run - the front process */
int
front_run(const struct conf *c, const struct keytab *keys,
    const int *listen_fds, size_t nlisten, int signer_fd)
{
	struct pool p = { .max = c->daemon.workers };
	struct sigaction sa = { .sa_handler = on_term };
	unsigned left;
	int	 broken;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.idle, NULL);
	p.f.conf = c;
	p.f.keys = keys;
	p.f.stop = &stop_requested;
	p.f.stats = stats_new(c);
	p.f.signer = signer_ipc_new(signer_fd, c->daemon.io_timeout * 1000);
	if (p.f.stats == NULL || p.f.signer == NULL) {
		log_err("front: out of memory");
		return EX_OSERR;
	}
	if (sandbox_enter(SANDBOX_FRONT, c) < 0)
		return EX_OSERR;
	log_info("front ready: %zu listener(s), %u workers", nlisten,
	    p.max);
	accept_loop(&p, listen_fds, nlisten);
	broken = signer_ipc_broken(p.f.signer);
	for (size_t i = 0; i < nlisten; i++)
		close(listen_fds[i]);
	log_info("front: %s; draining", broken ? "signer gone" : "stopping");
	if ((left = drain(&p, c->daemon.drain_timeout)) > 0)
		log_warn("front: %u connection(s) still open after %u s; "
		    "leaving", left, c->daemon.drain_timeout);
	if (left == 0)
		signer_free(p.f.signer);
	stats_free(p.f.stats);
	return broken ? EX_TEMPFAIL : EX_OK;
}
