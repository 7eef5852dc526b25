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
 * but one unix SOCK_SEQPACKET socket with the channel tag drops the link
 * (a channel the kernel could not pass for want of a free descriptor is
 * only logged), and channels past a link's cap, or past the budget of
 * descriptors all links share, are closed.  When the parent says a
 * front is gone ('D'), its link and channels are shut at once, whoever
 * else may still hold their other ends (a child the front forked).  A request
 * that waited for a token call is dropped if its front has given up, and
 * a reply waits at most REPLY_WAIT_S for a front to read.  On a channel, a
 * record that is not exactly one request, or has the wrong magic number,
 * drops the channel (logged); a key number or algorithm it does not know
 * is refused by the local signer.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/fdpass.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"

#define LINKS_MAX	16
/*
 * A front opens at most SIGNER_CHANNELS_MAX channels, but it forgets a
 * channel it gave up on (a timeout) before the thread here that still
 * signs for it is gone: room for twice as many, then new ones are closed.
 */
#define CHANNELS_CAP	(2 * SIGNER_CHANNELS_MAX)
/*
 * All channels together stay below FD_SETSIZE (a PKCS#11 module may use
 * select()) and the descriptor limit, with room left for the module.
 */
#define FDS_RESERVED	128
#define REPLY_WAIT_S	10
#define THREAD_STACK	(1024 * 1024)	/* the module runs on it: room to spare */

struct serve;

/* A link or a channel, and the thread that reads it. */
struct peer {
	struct serve *sv;
	struct peer *link;	/* a channel's link; NULL for a link */
	struct signer *signer;	/* a link: its table's view */
	int	 fd;
	uint32_t id;		/* a link: the parent's name for its front */
	int	 dropped;	/* a link: its front is gone */
	unsigned refs;		/* a link: its thread and its channels' */
	unsigned channels;	/* a link: its channels open */
};

struct serve {
	const struct signer_host *host;
	sem_t	 calls;			/* token calls that may start */
	pthread_attr_t attr;
	pthread_mutex_t mu;
	pthread_cond_t gone;		/* a thread left */
	unsigned threads;		/* running */
	unsigned links;			/* open */
	unsigned channels;		/* open, all links together */
	unsigned budget;		/* of channels, all links together */
	unsigned link_cap;		/* of channels, one link */
	time_t	 last_refusal;		/* logged */
	int	 stopping;
	struct peer **open;		/* peers to shut at stop; NULL free */
	size_t	 nopen;
};

/* watch - note p as open (locked); -1 when stopping or full */
static int
watch(struct serve *sv, struct peer *p)
{
	if (sv->stopping)
		return -1;
	for (size_t i = 0; i < sv->nopen; i++)
		if (sv->open[i] == NULL) {
			sv->open[i] = p;
			return 0;
		}
	return -1;
}

/* unwatch - p is about to be closed (locked) */
static void
unwatch(struct serve *sv, struct peer *p)
{
	for (size_t i = 0; i < sv->nopen; i++)
		if (sv->open[i] == p) {
			sv->open[i] = NULL;
			return;
		}
}

/* reply - send one reply record on a channel; -1 when it could not */
static int
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
	return send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) == (ssize_t)sizeof(rep) ?
	    0 : -1;
}

/* signer_request_take - the next request on a channel; 0 at its end or on garbage */
int
signer_request_take(int fd, struct signer_req *req)
{
	char	 why[64];
	ssize_t	 n;

	do
		n = recv(fd, req, sizeof(*req), MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*req) && req->magic == SIGNER_MAGIC_REQ) {
		if (signer_note_check(&req->note, why, sizeof(why)) == 0)
			return 1;
		log_err("signer: %s from a front: dropping the channel", why);
		return 0;
	}
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
	int	 last;

	pthread_mutex_lock(&sv->mu);
	unwatch(sv, p);
	close(p->fd);
	if (p->link != NULL) {
		l->channels--;
		sv->channels--;
		free(p);
	} else
		sv->links--;
	last = --l->refs == 0;
	pthread_mutex_unlock(&sv->mu);
	if (last) {			/* its table may go with its view */
		signer_free(l->signer);
		free(l);
	}
	pthread_mutex_lock(&sv->mu);
	sv->threads--;
	pthread_cond_broadcast(&sv->gone);
	pthread_mutex_unlock(&sv->mu);
}

/*
 * take_call - a token call may start; 0 when it had to wait and the
 * front has given up on the request meanwhile (no signature for no one)
 */
static int
take_call(struct serve *sv, int fd)
{
	if (sem_trywait(&sv->calls) == 0)
		return 1;
	while (sem_wait(&sv->calls) < 0 && errno == EINTR)
		;
	if (!signer_hung_up(fd))
		return 1;
	sem_post(&sv->calls);
	return 0;
}

/*
 * status - a request for SIGNER_KEY_STATUS: what the link's table knows
 * of its keys, from the key number in the digest's place on
 */
static void
status(struct signer *s, const struct signer_req *req, struct signer_reply *r)
{
	uint64_t first;

	memset(r, 0, sizeof(*r));
	memcpy(&first, req->digest, sizeof(first));
	r->status = SIGNER_OK;
	r->len = signer_status(s, (int)req->alg, (size_t)first, r->sig,
	    sizeof(r->sig));
}

/* channel_thread - sign a channel's requests until it ends */
static void *
channel_thread(void *arg)
{
	struct peer *c = arg;
	struct serve *sv = c->sv;
	struct signer_reply r;
	struct signer_req req;

	while (signer_request_take(c->fd, &req)) {
		if (req.key == SIGNER_KEY_STATUS) {
			status(c->link->signer, &req, &r);
			if (reply(c->fd, req.id, &r) < 0)
				break;
			continue;
		}
		if (!take_call(sv, c->fd))
			break;		/* the front gave up on it */
		signer_sign_noted(c->link->signer, req.key,
		    (enum dkim_alg)req.alg, req.digest, &req.note, &r);
		sem_post(&sv->calls);
		if (reply(c->fd, req.id, &r) < 0)
			break;
	}
	leave(c);
	return NULL;
}

/* start - a thread for peer p (locked); -1 when it cannot be */
static int
start(struct serve *sv, struct peer *p, void *(*fn)(void *))
{
	pthread_t th;
	int	 rc;

	if (watch(sv, p) < 0)
		return -1;
	if ((rc = pthread_create(&th, &sv->attr, fn, p)) != 0) {
		unwatch(sv, p);
		log_err("signer: cannot start a thread: %s", strerror(rc));
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

/* signer_link_take - the next channel on a link, SIGNER_LINK_LOST, or -1 */
int
signer_link_take(int link)
{
	char	 tag;
	int	 fd;

	if (fdpass_recv(link, &tag, &fd) <= 0)
		return -1;
	if (tag == SIGNER_LINK_CHANNEL && fd == FDPASS_LOST) {
		log_err("signer: a front's new channel was lost: no file "
		    "descriptor free");
		return SIGNER_LINK_LOST;	/* the front sees it closed */
	}
	if (tag != SIGNER_LINK_CHANNEL || fd < 0) {
		log_err("signer: a front sent something else than one channel: "
		    "dropping its link");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!is_channel(fd)) {
		log_err("signer: a front passed something else than a channel: "
		    "dropping its link");
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * room_for_channel - may link l have another channel (locked)?  NULL, or
 * why not, for the log
 */
static const char *
room_for_channel(const struct serve *sv, const struct peer *l)
{
	if (l->dropped)
		return "its front is gone";
	if (l->channels >= sv->link_cap)
		return "the link has all the channels it may have";
	if (sv->channels >= sv->budget)
		return "all links together have all the channels they may have";
	return NULL;
}

/* add_channel - a channel from link l's front; 0, or -1 to drop the link */
static int
add_channel(struct peer *l, int fd)
{
	struct serve *sv = l->sv;
	const char *why;
	struct peer *c;
	int	 drop;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return 0;	/* the front sees its channel closed */
	}
	*c = (struct peer){ .sv = sv, .link = l, .fd = fd };
	pthread_mutex_lock(&sv->mu);
	drop = l->dropped;
	if ((why = room_for_channel(sv, l)) != NULL ||
	    start(sv, c, channel_thread) < 0) {
		/* The front sees this one channel closed; a line a second. */
		if (why != NULL && time(NULL) == sv->last_refusal)
			why = NULL;
		else if (why != NULL)
			sv->last_refusal = time(NULL);
		pthread_mutex_unlock(&sv->mu);
		if (why != NULL)
			log_err("signer: refusing a channel: %s", why);
		close(fd);
		free(c);
		return drop ? -1 : 0;
	}
	l->channels++;
	sv->channels++;
	l->refs++;
	pthread_mutex_unlock(&sv->mu);
	/* A reply never waits long for a front that does not read. */
	signer_sock_timeout(fd, SO_SNDTIMEO, REPLY_WAIT_S * 1000);
	return 0;
}

/* link_thread - take a front's channels until its link ends */
static void *
link_thread(void *arg)
{
	struct peer *l = arg;
	int	 fd;

	while ((fd = signer_link_take(l->fd)) != -1)
		if (fd >= 0 && add_channel(l, fd) < 0)
			break;
	leave(l);
	return NULL;
}

/* add_link - a new front's link, for a table, and its thread */
static void
add_link(struct serve *sv, int fd, uint32_t id, uint32_t table)
{
	struct peer *l = calloc(1, sizeof(*l));

	if (l == NULL || (l->signer = sv->host->view(sv->host->ctx,
	    table)) == NULL) {
		if (l != NULL)
			log_err("signer: a front's link for key table %u, which "
			    "is not loaded: refused", table);
		free(l);
		close(fd);
		return;
	}
	l->sv = sv;
	l->fd = fd;
	l->id = id;
	l->refs = 1;
	pthread_mutex_lock(&sv->mu);
	if (sv->links >= LINKS_MAX || start(sv, l, link_thread) < 0) {
		if (sv->links >= LINKS_MAX)
			log_err("signer: more than %d fronts: refusing one",
			    LINKS_MAX);
		pthread_mutex_unlock(&sv->mu);
		signer_free(l->signer);
		close(fd);
		free(l);
		return;
	}
	sv->links++;
	pthread_mutex_unlock(&sv->mu);
}

/*
 * drop_link - the front with this id is gone: shut its link and every
 * channel of it, so that nothing else holding their other ends (a child
 * the front forked) keeps them; their threads then leave
 */
static void
drop_link(struct serve *sv, uint32_t id)
{
	unsigned n = 0;

	pthread_mutex_lock(&sv->mu);
	for (size_t i = 0; i < sv->nopen; i++) {
		struct peer *p = sv->open[i];
		struct peer *l = p == NULL ? NULL : p->link ? p->link : p;

		if (l == NULL || l->id != id)
			continue;
		l->dropped = 1;
		shutdown(p->fd, SHUT_RDWR);
		n++;
	}
	pthread_mutex_unlock(&sv->mu);
	if (n > 1)
		log_info("signer: a front's link and %u channel(s) closed: the "
		    "front is gone", n - 1);
}

/* load - 'K': a key table from fd; the answer goes back on ctl */
static void
load(struct serve *sv, int ctl, uint32_t table, uint32_t flags, int fd)
{
	struct {
		uint32_t table;
		char	 why[SIGNER_ERR_MAX];
	} e = { table, "" };
	uint32_t ok[2] = { table, 0 };

	if (fd < 0)
		snprintf(e.why, sizeof(e.why), "no key table came");
	else if (sv->host->load(sv->host->ctx, table, fd, flags, &ok[1],
	    e.why, sizeof(e.why)) == 0) {
		close(fd);
		(void)fdpass_sendmsg(ctl, 'R', -1, ok, sizeof(ok));
		return;
	}
	if (fd >= 0)
		close(fd);
	(void)fdpass_sendmsg(ctl, 'E', -1, &e, sizeof(table) +
	    strlen(e.why) + 1);
}

/* control - a message from the parent; returns 0 to stop */
static int
control(struct serve *sv, int ctl)
{
	uint32_t arg[2];
	size_t	 len;
	char	 tag;
	int	 fd, rc = fdpass_recvmsg(ctl, &tag, &fd, arg, sizeof(arg), &len);

	if (rc <= 0 || tag == 'Q') {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (tag == 'K' && len == sizeof(arg)) {
		load(sv, ctl, arg[0], arg[1], fd);
		return 1;
	}
	if (tag == 'F' && fd >= 0 && len == sizeof(arg)) {
		add_link(sv, fd, arg[0], arg[1]);
		return 1;
	}
	if (tag == 'D' && len == sizeof(arg[0]))
		drop_link(sv, arg[0]);
	else if (tag == 'T' && len == sizeof(arg[0]))
		sv->host->retire(sv->host->ctx, arg[0]);
	else if (tag == 'O' && len == 0) {
		if (sv->host->reopen != NULL)
			sv->host->reopen(sv->host->ctx);
	}
	else
		log_err("signer: a control message it does not know ('%c', "
		    "%zu bytes): ignored", tag, len);
	if (fd >= 0)
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
	for (size_t i = 0; i < sv->nopen; i++)
		if (sv->open[i] != NULL)
			shutdown(sv->open[i]->fd, SHUT_RD);
	while (sv->threads > 0)
		pthread_cond_wait(&sv->gone, &sv->mu);
	pthread_mutex_unlock(&sv->mu);
}

/*
 * budgets - how many channels all links may have together: what the
 * descriptor limit leaves after FDS_RESERVED, below FD_SETSIZE; and one
 * link: CHANNELS_CAP, at most half of that, so that the other front
 * always has room (a reload's fronts share what is left)
 */
static void
budgets(struct serve *sv)
{
	struct rlimit rl;
	rlim_t	 lim = FD_SETSIZE;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < lim)
		lim = rl.rlim_cur;
	sv->budget = (lim > 2 * FDS_RESERVED ? (unsigned)lim - FDS_RESERVED :
	    (unsigned)lim / 2) & ~1U;
	sv->link_cap = sv->budget / 2 < CHANNELS_CAP ? sv->budget / 2 :
	    CHANNELS_CAP;
	sv->nopen = sv->budget + LINKS_MAX;
}

/* signer_ipc_serve - answer the fronts until the parent says stop */
int
signer_ipc_serve(const struct signer_host *host, int ctl, unsigned threads)
{
	struct serve *sv = calloc(1, sizeof(*sv));

	if (sv == NULL || threads == 0 || sem_init(&sv->calls, 0, threads) < 0) {
		free(sv);
		return -1;
	}
	budgets(sv);
	if ((sv->open = calloc(sv->nopen, sizeof(*sv->open))) == NULL) {
		sem_destroy(&sv->calls);
		free(sv);
		return -1;
	}
	sv->host = host;
	pthread_attr_init(&sv->attr);
	pthread_attr_setdetachstate(&sv->attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&sv->attr, THREAD_STACK);
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->gone, NULL);
	while (control(sv, ctl))
		;
	stop(sv);
	pthread_attr_destroy(&sv->attr);
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->gone);
	sem_destroy(&sv->calls);
	free(sv->open);
	free(sv);
	return 0;
}
