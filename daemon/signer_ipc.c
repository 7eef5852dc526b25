/*
 * signer_ipc.c - the front's side of the link to the signer (see
 * include/p11dkim/signer_ipc.h).
 *
 * A request travels on a channel of its own.  A thread that signs takes
 * an idle channel (or opens one and passes its other end over the link),
 * sends its request, receives the reply itself and puts the channel back.
 * No thread hands a reply to another: the only wake-ups are the sockets',
 * which put the woken thread where the sender is about to sleep.
 *
 * A channel whose request got no proper reply (timeout, error) is closed,
 * never reused, so a late reply cannot be taken for another request's;
 * request ids check it besides.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/clock.h"
#include "p11dkim/fdpass.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"

struct chan {
	int	 fd;
	struct chan *next;
};

struct signer_ipc {
	struct signer base;
	int	 link;
	unsigned timeout_ms;
	pthread_mutex_t mu;
	pthread_cond_t freed;		/* a channel came back or closed */
	struct chan *idle;
	unsigned open;			/* channels idle or in use */
	uint32_t next_id;
	int	 broken;
};

/* signer_sock_timeout - a send or receive timeout (SO_SNDTIMEO/RCVTIMEO) */
void
signer_sock_timeout(int fd, int which, unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	(void)setsockopt(fd, SOL_SOCKET, which, &tv, sizeof(tv));
}

/* signer_hung_up - the other end of a link or channel is closed */
int
signer_hung_up(int fd)
{
	struct pollfd pfd = { fd, 0, 0 };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR));
}

/* check_link - notice the signer's end of the link hung up (locked) */
static void
check_link(struct signer_ipc *s)
{
	if (!s->broken && signer_hung_up(s->link))
		s->broken = 1;
	if (s->broken)
		pthread_cond_broadcast(&s->freed);
}

/* open_chan - a new channel, its other end sent to the signer */
static struct chan *
open_chan(struct signer_ipc *s)
{
	struct chan *c = malloc(sizeof(*c));
	int	 sv[2];

	if (c == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		free(c);
		return NULL;
	}
	if (fdpass_send(s->link, SIGNER_LINK_CHANNEL, sv[1]) < 0) {
		close(sv[0]);
		close(sv[1]);
		free(c);
		return NULL;
	}
	close(sv[1]);
	signer_sock_timeout(sv[0], SO_SNDTIMEO, s->timeout_ms);
	signer_sock_timeout(sv[0], SO_RCVTIMEO, s->timeout_ms);
	c->fd = sv[0];
	c->next = NULL;
	return c;
}

/*
 * get_chan - an idle channel, a new one, or (all SIGNER_CHANNELS_MAX in
 * use) the next one freed before until; NULL with the reason in r.
 * *waited says whether it had to wait.
 */
static struct chan *
get_chan(struct signer_ipc *s, const struct timespec *until, int *waited,
    struct signer_reply *r)
{
	struct chan *c = NULL;
	int	 rc = 0, e = 0;

	pthread_mutex_lock(&s->mu);
	*waited = 0;
	while (!s->broken && s->idle == NULL && s->open >= SIGNER_CHANNELS_MAX &&
	    rc != ETIMEDOUT) {
		rc = pthread_cond_timedwait(&s->freed, &s->mu, until);
		*waited = 1;
	}
	if (!s->broken && (c = s->idle) != NULL)
		s->idle = c->next;
	else if (!s->broken && s->open < SIGNER_CHANNELS_MAX) {
		s->open++;
		pthread_mutex_unlock(&s->mu);
		c = open_chan(s);
		e = errno;
		pthread_mutex_lock(&s->mu);
		if (c == NULL) {
			s->open--;
			check_link(s);
			pthread_cond_signal(&s->freed);
		}
	}
	if (c == NULL && s->broken)
		signer_reply_set(r, SIGNER_TEMP, "signer process unavailable");
	else if (c == NULL && (e == EAGAIN || e == EWOULDBLOCK))
		signer_reply_set(r, SIGNER_TEMP, "signer busy: a new channel "
		    "waited %u ms to be passed", s->timeout_ms);
	else if (c == NULL && e != 0)
		signer_reply_set(r, SIGNER_TEMP, "cannot open a channel to the "
		    "signer: %s", strerror(e));
	else if (c == NULL)
		signer_reply_set(r, SIGNER_TEMP, "signer busy: no channel free "
		    "in %u ms", s->timeout_ms);
	pthread_mutex_unlock(&s->mu);
	return c;
}

/* put_chan - back to the idle list when it is clean, else closed */
static void
put_chan(struct signer_ipc *s, struct chan *c, int clean)
{
	pthread_mutex_lock(&s->mu);
	if (clean && !s->broken) {
		c->next = s->idle;
		s->idle = c;
	} else {
		close(c->fd);
		free(c);
		s->open--;
		check_link(s);
	}
	pthread_cond_signal(&s->freed);
	pthread_mutex_unlock(&s->mu);
}

/* gone - why a channel ended without a reply: the signer, or the channel */
static void
gone(struct signer_ipc *s, struct signer_reply *r)
{
	if (signer_hung_up(s->link))
		signer_reply_set(r, SIGNER_TEMP, "signer process unavailable");
	else
		signer_reply_set(r, SIGNER_TEMP, "the signer closed the channel "
		    "(see its log)");
}

/*
 * exchange - the request out, its reply in; 1 when the reply is taken
 * (r filled from it), 0 with r saying why not
 */
static int
exchange(struct signer_ipc *s, int fd, const struct signer_req *req,
    struct signer_reply *r)
{
	struct signer_rep rep;
	ssize_t	 n;

	do
		n = send(fd, req, sizeof(*req), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*req)) {
		if (errno == EAGAIN)
			signer_reply_set(r, SIGNER_TEMP, "signer busy: the "
			    "request waited %u ms to be sent", s->timeout_ms);
		else if (errno == EPIPE || errno == ECONNRESET)
			gone(s, r);
		else
			signer_reply_set(r, SIGNER_TEMP, "signer process "
			    "unavailable: %s", strerror(errno));
		return 0;
	}
	do
		n = recv(fd, &rep, sizeof(rep), MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		signer_reply_set(r, SIGNER_TEMP, "signer did not answer in %u "
		    "ms", s->timeout_ms);
		return 0;
	}
	if (n == 0) {
		gone(s, r);
		return 0;
	}
	if (!signer_rep_decode(&rep, n, req->id, r)) {
		if (n > 0)
			log_err("signer channel: bad reply record (%zd bytes): "
			    "dropping the channel", n);
		signer_reply_set(r, SIGNER_TEMP, "signer link failed: %s", n < 0 ?
		    strerror(errno) : "bad reply record");
		return 0;
	}
	return 1;
}

/* signer_rep_decode - the record as the reply to request id, or 0 */
int
signer_rep_decode(const struct signer_rep *rep, ssize_t n, uint32_t id,
    struct signer_reply *r)
{
	if (n != (ssize_t)sizeof(*rep) || rep->magic != SIGNER_MAGIC_REP ||
	    rep->id != id)
		return 0;
	if (rep->status == SIGNER_OK && (rep->len == 0 ||
	    rep->len > sizeof(r->sig))) {
		signer_reply_set(r, SIGNER_TEMP, "the signer answered OK without "
		    "a signature (%u bytes)", rep->len);
		return 1;
	}
	r->status = rep->status <= SIGNER_TRAIL ? (enum signer_status)rep->status :
	    SIGNER_TEMP;
	r->len = rep->len <= sizeof(r->sig) ? rep->len : 0;
	memcpy(r->sig, rep->sig, r->len);
	memcpy(r->reason, rep->reason, sizeof(r->reason));
	r->reason[sizeof(r->reason) - 1] = '\0';
	return 1;
}

/* ipc_sign_noted - send the request on a channel, receive its reply */
static void
ipc_sign_noted(struct signer *base, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN],
    const struct signer_note *note, struct signer_reply *r)
{
	struct signer_ipc *s = (struct signer_ipc *)base;
	struct timespec until = clock_deadline(s->timeout_ms);
	struct signer_req req;
	struct chan *c;
	int	 waited, ok;

	if ((c = get_chan(s, &until, &waited, r)) == NULL)
		return;
	memset(&req, 0, sizeof(req));
	req.magic = SIGNER_MAGIC_REQ;
	req.id = __atomic_add_fetch(&s->next_id, 1, __ATOMIC_RELAXED);
	req.key = key;
	req.alg = (uint32_t)alg;
	memcpy(req.digest, digest, DKIM_DIGEST_LEN);
	if (note != NULL)
		req.note = *note;
	/* One deadline for the request: what waiting for a channel took
	 * is taken from the wait for the answer. */
	if (waited)
		signer_sock_timeout(c->fd, SO_RCVTIMEO, clock_left_ms(&until) + 1);
	ok = exchange(s, c->fd, &req, r);
	if (waited && ok)
		signer_sock_timeout(c->fd, SO_RCVTIMEO, s->timeout_ms);
	put_chan(s, c, ok);
}

/* ipc_sign - a request without a note */
static void
ipc_sign(struct signer *base, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN], struct signer_reply *r)
{
	ipc_sign_noted(base, key, alg, digest, NULL, r);
}

/* ipc_free - close the link and the channels (none may be in use) */
static void
ipc_free(struct signer *base)
{
	struct signer_ipc *s = (struct signer_ipc *)base;
	struct chan *c;

	while ((c = s->idle) != NULL) {
		s->idle = c->next;
		close(c->fd);
		free(c);
	}
	close(s->link);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->freed);
	free(s);
}

/*
 * ipc_status - what the signer knows of the keys from first on: a request
 * for the key number SIGNER_KEY_STATUS, first in the digest's place
 */
static size_t
ipc_status(struct signer *base, int what, size_t first, unsigned char *out,
    size_t max)
{
	unsigned char digest[DKIM_DIGEST_LEN] = { 0 };
	uint64_t from = first;
	struct signer_reply r;

	memcpy(digest, &from, sizeof(from));
	ipc_sign(base, SIGNER_KEY_STATUS, (enum dkim_alg)what, digest, &r);
	if (r.status != SIGNER_OK)
		return 0;
	if (r.len > max)
		r.len = max;
	memcpy(out, r.sig, r.len);
	return r.len;
}

static const struct signer_ops ipc_ops = { ipc_sign, ipc_free, ipc_status,
	ipc_sign_noted };

/* signer_ipc_new - the front's signer over fd (owned from now on) */
struct signer *
signer_ipc_new(int fd, unsigned timeout_ms)
{
	struct signer_ipc *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		close(fd);
		return NULL;
	}
	s->base.ops = &ipc_ops;
	s->link = fd;
	s->timeout_ms = timeout_ms;
	signer_sock_timeout(fd, SO_SNDTIMEO, timeout_ms);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->freed, NULL);
	return &s->base;
}

/* signer_ipc_broken - 1 once the signer process is gone */
int
signer_ipc_broken(struct signer *base)
{
	struct signer_ipc *s = (struct signer_ipc *)base;
	int	 b;

	pthread_mutex_lock(&s->mu);
	check_link(s);
	b = s->broken;
	pthread_mutex_unlock(&s->mu);
	return b;
}
