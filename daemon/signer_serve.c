/*
 * signer_serve.c - the signer process's loop: the fronts' links and their
 * channels, answered with the local signer (see
 * include/p11dkim/signer_ipc.h).
 *
 * Threads: the main one takes links from the parent; one per link takes
 * the channels the front opens; one per channel receives a request, signs
 * it and sends the reply, and again.  A request is never passed from one
 * thread to another.  A semaphore keeps the token calls in flight at the
 * configured number however many channels there are.
 *
 * Security: the signer trusts nothing it receives.  On a link, anything
 * but a unix SOCK_SEQPACKET socket with the channel tag drops the link,
 * and a front gets at most SIGNER_CHANNELS_MAX channels.  On a channel, a
 * record that is not exactly one request, or has the wrong magic number,
 * drops the channel (logged); a key number or algorithm it does not know
 * is refused by the local signer.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p11dkim/fdpass.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"

#define LINKS_MAX	16
#define OPEN_MAX	(LINKS_MAX * (SIGNER_CHANNELS_MAX + 1))
#define THREAD_STACK	(1024 * 1024)	/* the module runs on it: room to spare */

struct serve;

/* A link or a channel, and the thread that reads it. */
struct peer {
	struct serve *sv;
	struct peer *link;	/* a channel's link; NULL for a link */
	int	 fd;
	unsigned refs;		/* a link: its thread and its channels' */
	unsigned channels;	/* a link: its channels open */
};

struct serve {
	struct signer *local;
	sem_t	 calls;			/* token calls that may start */
	pthread_attr_t attr;
	pthread_mutex_t mu;
	pthread_cond_t gone;		/* a thread left */
	unsigned threads;		/* running */
	unsigned links;			/* open */
	int	 stopping;
	int	 open[OPEN_MAX];	/* fds to shut at stop; -1 free */
};

/* watch - note fd as open (locked); -1 when stopping or full */
static int
watch(struct serve *sv, int fd)
{
	if (sv->stopping)
		return -1;
	for (int i = 0; i < OPEN_MAX; i++)
		if (sv->open[i] < 0) {
			sv->open[i] = fd;
			return 0;
		}
	return -1;
}

/* unwatch - fd is about to be closed (locked) */
static void
unwatch(struct serve *sv, int fd)
{
	for (int i = 0; i < OPEN_MAX; i++)
		if (sv->open[i] == fd) {
			sv->open[i] = -1;
			return;
		}
}

/* reply - send one reply record on a channel */
static void
reply(int fd, uint32_t id, const struct signer_reply *r)
{
	struct signer_rep rep;

	memset(&rep, 0, sizeof(rep));
	rep.magic = SIGNER_MAGIC_REP;
	rep.id = id;
	rep.status = (uint32_t)r->status;
	rep.len = (uint32_t)r->len;
	memcpy(rep.sig, r->sig, r->len);
	memcpy(rep.reason, r->reason, sizeof(rep.reason));
	(void)send(fd, &rep, sizeof(rep), MSG_NOSIGNAL);
}

/* take_request - the next request on a channel; 0 at its end or on garbage */
static int
take_request(int fd, struct signer_req *req)
{
	ssize_t	 n;

	do
		n = recv(fd, req, sizeof(*req), MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*req) && req->magic == SIGNER_MAGIC_REQ)
		return 1;
	if (n > 0)
		log_err("signer: malformed request record (%zd bytes) from a "
		    "front: dropping the channel", n);
	return 0;
}

/* leave - a thread ends: its peer is closed, a link freed by the last */
static void
leave(struct peer *p)
{
	struct serve *sv = p->sv;
	struct peer *l = p->link ? p->link : p;

	pthread_mutex_lock(&sv->mu);
	unwatch(sv, p->fd);
	close(p->fd);
	if (p->link != NULL) {
		l->channels--;
		free(p);
	} else
		sv->links--;
	if (--l->refs == 0)
		free(l);
	sv->threads--;
	pthread_cond_broadcast(&sv->gone);
	pthread_mutex_unlock(&sv->mu);
}

/* channel_thread - sign a channel's requests until it ends */
static void *
channel_thread(void *arg)
{
	struct peer *c = arg;
	struct serve *sv = c->sv;
	struct signer_reply r;
	struct signer_req req;

	while (take_request(c->fd, &req)) {
		while (sem_wait(&sv->calls) < 0 && errno == EINTR)
			;
		signer_sign(sv->local, req.key, (enum dkim_alg)req.alg,
		    req.digest, &r);
		sem_post(&sv->calls);
		reply(c->fd, req.id, &r);
	}
	leave(c);
	return NULL;
}

/* start - a thread for peer p (locked); -1 when it cannot be */
static int
start(struct serve *sv, struct peer *p, void *(*fn)(void *))
{
	pthread_t th;

	if (watch(sv, p->fd) < 0)
		return -1;
	if (pthread_create(&th, &sv->attr, fn, p) != 0) {
		unwatch(sv, p->fd);
		log_err("signer: cannot start a thread: %s", strerror(errno));
		return -1;
	}
	sv->threads++;
	return 0;
}

/* is_channel - fd is a unix SOCK_SEQPACKET socket */
static int
is_channel(int fd)
{
	int	 type = 0, domain = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return 0;
	len = sizeof(domain);
	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
	    type == SOCK_SEQPACKET && domain == AF_UNIX;
}

/* add_channel - a channel from link l's front; 0, or -1 to drop the link */
static int
add_channel(struct peer *l, int fd)
{
	struct serve *sv = l->sv;
	struct peer *c;

	if (!is_channel(fd)) {
		log_err("signer: a front passed something else than a "
		    "channel: dropping its link");
		close(fd);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return 0;	/* the front sees its channel closed */
	}
	*c = (struct peer){ sv, l, fd, 0, 0 };
	pthread_mutex_lock(&sv->mu);
	if (l->channels >= SIGNER_CHANNELS_MAX) {
		pthread_mutex_unlock(&sv->mu);
		log_err("signer: a front asks for more than %d channels: "
		    "dropping its link", SIGNER_CHANNELS_MAX);
		close(fd);
		free(c);
		return -1;
	}
	if (start(sv, c, channel_thread) < 0) {
		close(fd);
		free(c);
	} else {
		l->channels++;
		l->refs++;
	}
	pthread_mutex_unlock(&sv->mu);
	return 0;
}

/* link_thread - take a front's channels until its link ends */
static void *
link_thread(void *arg)
{
	struct peer *l = arg;
	char	 tag;
	int	 fd;

	while (fdpass_recv(l->fd, &tag, &fd) > 0) {
		if (tag != SIGNER_LINK_CHANNEL) {
			log_err("signer: a front sent something else than a "
			    "channel: dropping its link");
			if (fd >= 0)
				close(fd);
			break;
		}
		if (fd < 0) {	/* the kernel dropped it: no descriptor free */
			log_err("signer: a front's new channel was lost (out of "
			    "file descriptors?)");
			continue;	/* the front sees it closed */
		}
		if (add_channel(l, fd) < 0)
			break;
	}
	leave(l);
	return NULL;
}

/* add_link - a new front's link, and its thread */
static void
add_link(struct serve *sv, int fd)
{
	struct peer *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		close(fd);
		return;
	}
	*l = (struct peer){ sv, NULL, fd, 1, 0 };
	pthread_mutex_lock(&sv->mu);
	if (sv->links >= LINKS_MAX || start(sv, l, link_thread) < 0) {
		log_err("signer: more than %d fronts, or no thread for one; "
		    "refusing a front", LINKS_MAX);
		close(fd);
		free(l);
	} else
		sv->links++;
	pthread_mutex_unlock(&sv->mu);
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

/*
 * stop - nothing more is read from any link or channel (the fronts see
 * them shut); the requests already received are answered, then every
 * thread is gone
 */
static void
stop(struct serve *sv)
{
	pthread_mutex_lock(&sv->mu);
	sv->stopping = 1;
	for (int i = 0; i < OPEN_MAX; i++)
		if (sv->open[i] >= 0)
			shutdown(sv->open[i], SHUT_RD);
	while (sv->threads > 0)
		pthread_cond_wait(&sv->gone, &sv->mu);
	pthread_mutex_unlock(&sv->mu);
}

/* signer_ipc_serve - answer the fronts until the parent says stop */
int
signer_ipc_serve(struct signer *local, int ctl, unsigned threads)
{
	struct serve *sv = calloc(1, sizeof(*sv));

	if (sv == NULL || threads == 0 || sem_init(&sv->calls, 0, threads) < 0) {
		free(sv);
		return -1;
	}
	sv->local = local;
	pthread_attr_init(&sv->attr);
	pthread_attr_setdetachstate(&sv->attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&sv->attr, THREAD_STACK);
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->gone, NULL);
	for (int i = 0; i < OPEN_MAX; i++)
		sv->open[i] = -1;
	while (control(sv, ctl))
		;
	stop(sv);
	pthread_attr_destroy(&sv->attr);
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->gone);
	sem_destroy(&sv->calls);
	free(sv);
	return 0;
}
