/*
 * signer_serve.c - the signer process's loop: requests from the fronts'
 * sockets, answered by a pool of threads with the local signer (see
 * include/p11dkim/signer_ipc.h).
 *
 * Security: the signer trusts nothing it receives.  A record that is not
 * exactly one request, or has the wrong magic number, drops that front's
 * link (logged); a key number or algorithm it does not know is refused by
 * the local signer.  Only the main thread opens and closes links; a link
 * is closed once no reply to it is still being made.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p11dkim/fdpass.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"

#define LINKS_MAX	16
#define QUEUE_MAX	4096

struct link {
	int	 fd;		/* -1: free */
	int	 inflight;	/* requests queued or being signed */
	int	 eof;		/* the front is gone: close at inflight 0 */
};

struct job {
	struct link *link;
	struct signer_req req;
};

struct serve {
	struct signer *local;
	pthread_mutex_t mu;
	pthread_cond_t more;
	struct job queue[QUEUE_MAX];
	size_t	 head, count;
	int	 stopping;
	int	 wake[2];		/* workers wake the main loop */
	struct link links[LINKS_MAX];
};

/* reply - send one reply record to a link */
static void
reply(struct link *l, uint32_t id, const struct signer_reply *r)
{
	struct signer_rep rep;

	memset(&rep, 0, sizeof(rep));
	rep.magic = SIGNER_MAGIC_REP;
	rep.id = id;
	rep.status = (uint32_t)r->status;
	rep.len = (uint32_t)r->len;
	memcpy(rep.sig, r->sig, r->len);
	memcpy(rep.reason, r->reason, sizeof(rep.reason));
	(void)send(l->fd, &rep, sizeof(rep), MSG_NOSIGNAL);
}

/* worker - sign queued requests until told to stop */
static void *
worker(void *arg)
{
	struct serve *sv = arg;
	struct signer_reply r;
	struct job job;
	int	 wake;

	for (;;) {
		pthread_mutex_lock(&sv->mu);
		while (sv->count == 0 && !sv->stopping)
			pthread_cond_wait(&sv->more, &sv->mu);
		if (sv->count == 0) {
			pthread_mutex_unlock(&sv->mu);
			return NULL;
		}
		job = sv->queue[sv->head];
		sv->head = (sv->head + 1) % QUEUE_MAX;
		sv->count--;
		pthread_mutex_unlock(&sv->mu);
		signer_sign(sv->local, job.req.key,
		    (enum dkim_alg)job.req.alg, job.req.digest, &r);
		reply(job.link, job.req.id, &r);
		pthread_mutex_lock(&sv->mu);
		wake = --job.link->inflight == 0 && job.link->eof;
		pthread_mutex_unlock(&sv->mu);
		if (wake)		/* only a draining link needs the main loop */
			(void)!write(sv->wake[1], "", 1);
	}
}

/* add_link - a new front's socket */
static void
add_link(struct serve *sv, int fd)
{
	for (int i = 0; i < LINKS_MAX; i++)
		if (sv->links[i].fd < 0) {
			sv->links[i] = (struct link){ fd, 0, 0 };
			return;
		}
	log_err("signer: more than %d fronts; refusing one", LINKS_MAX);
	close(fd);
}

/* take_request - one record from a link: queue it, or drop the link */
static void
take_request(struct serve *sv, struct link *l)
{
	struct signer_reply busy;
	struct job job;
	ssize_t	 n = recv(l->fd, &job.req, sizeof(job.req), MSG_TRUNC |
	    MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || n != (ssize_t)sizeof(job.req) ||
	    job.req.magic != SIGNER_MAGIC_REQ) {
		if (n > 0)
			log_err("signer: malformed request record (%zd bytes) "
			    "from a front: dropping its link", n);
		pthread_mutex_lock(&sv->mu);	/* workers read it */
		l->eof = 1;
		pthread_mutex_unlock(&sv->mu);
		return;
	}
	job.link = l;
	pthread_mutex_lock(&sv->mu);
	if (sv->count == QUEUE_MAX) {
		pthread_mutex_unlock(&sv->mu);
		signer_reply_set(&busy, SIGNER_TEMP, "signer busy");
		reply(l, job.req.id, &busy);
		return;
	}
	sv->queue[(sv->head + sv->count) % QUEUE_MAX] = job;
	sv->count++;
	l->inflight++;
	pthread_cond_signal(&sv->more);
	pthread_mutex_unlock(&sv->mu);
}

/* close_done_links - close links whose front is gone and nothing is due */
static int
close_done_links(struct serve *sv)
{
	int	 open = 0;

	pthread_mutex_lock(&sv->mu);
	for (int i = 0; i < LINKS_MAX; i++) {
		struct link *l = &sv->links[i];

		if (l->fd >= 0 && l->eof && l->inflight == 0) {
			close(l->fd);
			l->fd = -1;
		}
		open += l->fd >= 0;
	}
	pthread_mutex_unlock(&sv->mu);
	return open;
}

/* control - a message from the parent; returns 0 to stop */
static int
control(struct serve *sv, int ctl)
{
	char	 tag;
	int	 fd, rc = fdpass_recv(ctl, &tag, &fd);

	if (rc <= 0 || tag == 'Q') {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (tag == 'F' && fd >= 0)
		add_link(sv, fd);
	else if (fd >= 0)
		close(fd);
	return 1;
}

/* poll_once - wait for the parent, the fronts or a worker; 0 to stop */
static int
poll_once(struct serve *sv, int ctl)
{
	struct pollfd pfd[LINKS_MAX + 2];
	struct link *who[LINKS_MAX + 2];
	char	 drain[64];
	nfds_t	 n = 0;

	pfd[n] = (struct pollfd){ ctl, POLLIN, 0 };
	who[n++] = NULL;
	pfd[n] = (struct pollfd){ sv->wake[0], POLLIN, 0 };
	who[n++] = NULL;
	for (int i = 0; i < LINKS_MAX; i++)
		if (sv->links[i].fd >= 0 && !sv->links[i].eof) {
			pfd[n] = (struct pollfd){ sv->links[i].fd, POLLIN, 0 };
			who[n++] = &sv->links[i];
		}
	if (poll(pfd, n, -1) < 0)
		return errno == EINTR;
	if (pfd[1].revents)
		(void)!read(sv->wake[0], drain, sizeof(drain));
	for (nfds_t i = 2; i < n; i++)
		if (pfd[i].revents)
			take_request(sv, who[i]);
	close_done_links(sv);
	return pfd[0].revents ? control(sv, ctl) : 1;
}

/* signer_ipc_serve - answer the fronts until the parent says stop */
int
signer_ipc_serve(struct signer *local, int ctl, unsigned threads)
{
	struct serve *sv = calloc(1, sizeof(*sv));
	pthread_t *th;
	unsigned started = 0;

	if (sv == NULL || (th = calloc(threads, sizeof(*th))) == NULL ||
	    pipe(sv->wake) < 0) {
		free(sv);
		return -1;
	}
	sv->local = local;
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->more, NULL);
	for (int i = 0; i < LINKS_MAX; i++)
		sv->links[i].fd = -1;
	while (started < threads &&
	    pthread_create(&th[started], NULL, worker, sv) == 0)
		started++;
	while (poll_once(sv, ctl))
		;
	pthread_mutex_lock(&sv->mu);
	sv->stopping = 1;
	pthread_cond_broadcast(&sv->more);
	pthread_mutex_unlock(&sv->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < LINKS_MAX; i++)
		if (sv->links[i].fd >= 0)
			close(sv->links[i].fd);
	close(sv->wake[0]);
	close(sv->wake[1]);
	free(th);
	free(sv);
	return 0;
}
