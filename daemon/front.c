/*
 * front.c - the native front process: accept connections on the
 * listeners and serve each in a thread of its own, at most `workers` at
 * once and at most max-connections-per-uid of one peer uid (SO_PEERCRED
 * at accept); a connection beyond either gets a prompt TEMPFAIL that says
 * which (backpressure), never a queue that grows.  So one local user,
 * however slowly it sends, cannot hold every worker.  On SIGTERM: stop
 * accepting, let the connections in flight finish (up to drain-timeout),
 * exit 0.  When the signer is gone, exit the same way (75): the parent
 * starts a new front with a link to the new signer.
 *
 * With metrics-listen, it also answers GET /metrics (metrics_http.c),
 * in threads apart from its workers.
 *
 * Security: runs as the unprivileged user, without the PKCS#11 module
 * and without PINs; it can only ask the signer for signatures by key
 * number.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
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

struct peer_count {
	uid_t	 uid;
	unsigned n;			/* its connections; 0: a free slot */
};

struct pool {
	struct front f;
	pthread_mutex_t mu;
	pthread_cond_t idle;		/* a connection ended */
	unsigned active;
	unsigned max;
	unsigned per_uid;		/* max-connections-per-uid */
	struct peer_count *peers;	/* max slots: enough for every uid */
};

struct job {
	struct pool *pool;
	int	 fd;
	struct peer_count *peer;
};

static volatile sig_atomic_t stop_requested;

/* on_term - SIGTERM: stop accepting and drain */
static void
on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* peer_slot - uid's count, or a free slot for it; NULL when none is free */
static struct peer_count *
peer_slot(struct pool *p, uid_t uid)
{
	struct peer_count *free_slot = NULL;

	for (unsigned k = 0; k < p->max; k++) {
		if (p->peers[k].n > 0 && p->peers[k].uid == uid)
			return &p->peers[k];
		if (p->peers[k].n == 0 && free_slot == NULL)
			free_slot = &p->peers[k];
	}
	if (free_slot != NULL)
		free_slot->uid = uid;
	return free_slot;
}

/*
 * admit - count a connection of uid in; NULL when it may not start:
 * *over_cap says whether its uid has max-connections-per-uid already,
 * else all workers are busy
 */
static struct peer_count *
admit(struct pool *p, uid_t uid, int *over_cap)
{
	struct peer_count *pc;

	pthread_mutex_lock(&p->mu);
	pc = peer_slot(p, uid);		/* a free one exists while active < max */
	*over_cap = pc != NULL && pc->n >= p->per_uid;
	if (pc == NULL || *over_cap || p->active >= p->max)
		pc = NULL;
	else {
		pc->n++;
		p->active++;
	}
	pthread_mutex_unlock(&p->mu);
	return pc;
}

/* release - a connection admitted for pc ended */
static void
release(struct pool *p, struct peer_count *pc)
{
	pthread_mutex_lock(&p->mu);
	pc->n--;
	p->active--;
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->mu);
}

/* turn_away - a prompt TEMPFAIL saying why, counted in STATS */
static void
turn_away(struct pool *p, int fd, int over_cap, uid_t uid)
{
	char	 why[160];

	if (!over_cap) {
		stats_busy(p->f.stats);
		conn_refuse(fd, "overloaded: all workers busy, retry later");
		return;
	}
	stats_uid_limit(p->f.stats);
	snprintf(why, sizeof(why), "too many connections from uid %u "
	    "(max-connections-per-uid %u); retry later", (unsigned)uid,
	    p->per_uid);
	conn_refuse(fd, why);
}

/* serve - a connection thread */
static void *
serve(void *arg)
{
	struct job *j = arg;
	struct pool *p = j->pool;

	conn_serve(&p->f, j->fd);
	release(p, j->peer);
	free(j);
	return NULL;
}

/* dispatch - a thread for a new connection, or a prompt refusal */
static void
dispatch(struct pool *p, pthread_attr_t *attr, int fd)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);
	struct job *j;
	pthread_t th;
	int	 over_cap = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
		close(fd);
		return;
	}
	if ((j = malloc(sizeof(*j))) == NULL ||
	    (j->peer = admit(p, peer.uid, &over_cap)) == NULL) {
		free(j);
		turn_away(p, fd, over_cap, peer.uid);
		return;
	}
	j->pool = p;
	j->fd = fd;
	if (pthread_create(&th, attr, serve, j) != 0) {
		release(p, j->peer);
		free(j);
		turn_away(p, fd, 0, peer.uid);
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
    const int *listen_fds, size_t nlisten, const struct front_share *share,
    int signer_fd)
{
	struct pool p = { .max = c->daemon.workers,
	    .per_uid = c->daemon.max_per_uid };
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
	p.f.stats = share->stats[0];
	p.f.signer = signer_ipc_new(signer_fd, c->daemon.io_timeout * 1000);
	p.peers = calloc(p.max, sizeof(*p.peers));
	if (p.f.stats == NULL || p.f.signer == NULL || p.peers == NULL) {
		log_err("front: out of memory");
		return EX_OSERR;
	}
	if (sandbox_enter(SANDBOX_FRONT, c) < 0)
		return EX_OSERR;
	if (share->metrics_fd >= 0 && metrics_http_start(&p.f, share->stats,
	    2, share->metrics_fd) < 0)
		return EX_OSERR;
	log_info("front ready: %zu listener(s), %u workers, at most %u per "
	    "uid", nlisten, p.max, p.per_uid);
	accept_loop(&p, listen_fds, nlisten);
	broken = signer_ipc_broken(p.f.signer);
	for (size_t i = 0; i < nlisten; i++)
		close(listen_fds[i]);
	log_info("front: %s; draining", broken ? "signer gone" : "stopping");
	if ((left = drain(&p, c->daemon.drain_timeout)) > 0)
		log_warn("front: %u connection(s) still open after %u s; "
		    "leaving", left, c->daemon.drain_timeout);
	if (left == 0) {		/* else threads still use them */
		signer_free(p.f.signer);
		free(p.peers);
	}
	return broken ? EX_TEMPFAIL : EX_OK;
}
