/*
 * signer_ipc.c - the front's side of the signer socketpair (see
 * include/p11dkim/signer_ipc.h).
 *
 * Requests wait in a fixed table of slots; the slot number and a
 * generation make the request id, so a late reply to an abandoned
 * request can never be taken for another's.  One reader thread receives
 * every reply and wakes the thread that waits for it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/clock.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"

#define SLOTS		1024

struct slot {
	int	 busy;		/* a request is using the slot */
	int	 done;		/* its reply arrived */
	uint32_t gen;
	pthread_cond_t cond;	/* its reply arrived (or the link broke) */
	struct signer_rep rep;
};

struct signer_ipc {
	struct signer base;
	int	 fd;
	unsigned timeout_ms;
	pthread_t reader;
	pthread_mutex_t mu;
	pthread_cond_t cond;		/* a reply arrived, or a slot freed */
	int	 broken;
	struct slot slots[SLOTS];
};

/* take_slot - a free slot, waiting while all are busy; -1 when broken */
static int
take_slot(struct signer_ipc *s)
{
	for (;;) {
		if (s->broken)
			return -1;
		for (int i = 0; i < SLOTS; i++)
			if (!s->slots[i].busy) {
				s->slots[i].busy = 1;
				s->slots[i].done = 0;
				s->slots[i].gen++;
				return i;
			}
		pthread_cond_wait(&s->cond, &s->mu);
	}
}

/* deliver - a reply from the signer, to its slot */
static void
deliver(struct signer_ipc *s, const struct signer_rep *rep)
{
	unsigned i = rep->id & (SLOTS - 1);
	struct slot *sl = &s->slots[i];

	if (!sl->busy || sl->gen != rep->id / SLOTS || sl->done)
		return;			/* abandoned after a timeout */
	sl->rep = *rep;
	sl->done = 1;
	pthread_cond_signal(&sl->cond);
}

/* reader - receive replies until the link breaks */
static void *
reader(void *arg)
{
	struct signer_ipc *s = arg;
	struct signer_rep rep;
	ssize_t	 n;

	for (;;) {
		n = recv(s->fd, &rep, sizeof(rep), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(rep) || rep.magic != SIGNER_MAGIC_REP) {
			if (n != 0)
				log_err("signer link: bad reply record (%zd "
				    "bytes): dropping the link", n);
			break;
		}
		pthread_mutex_lock(&s->mu);
		deliver(s, &rep);
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_lock(&s->mu);
	s->broken = 1;
	pthread_cond_broadcast(&s->cond);
	for (int i = 0; i < SLOTS; i++)
		pthread_cond_broadcast(&s->slots[i].cond);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* wait_reply - until slot i is answered, the time is up or the link breaks */
static void
wait_reply(struct signer_ipc *s, int i, struct signer_reply *r)
{
	struct timespec until = clock_deadline(s->timeout_ms);
	struct slot *sl = &s->slots[i];
	int	 rc = 0;

	while (!sl->done && !s->broken && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&sl->cond, &s->mu, &until);
	if (sl->done) {
		r->status = sl->rep.status <= SIGNER_PERM ?
		    (enum signer_status)sl->rep.status : SIGNER_TEMP;
		r->len = sl->rep.len <= sizeof(r->sig) ? sl->rep.len : 0;
		memcpy(r->sig, sl->rep.sig, r->len);
		memcpy(r->reason, sl->rep.reason, sizeof(r->reason));
		r->reason[sizeof(r->reason) - 1] = '\0';
	} else {
		signer_reply_set(r, SIGNER_TEMP, s->broken ? "signer process "
		    "unavailable" : "signer did not answer in %u ms",
		    s->timeout_ms);
	}
	sl->busy = 0;
	pthread_cond_broadcast(&s->cond);
}

/* ipc_sign - send the request, wait for its reply */
static void
ipc_sign(struct signer *base, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN], struct signer_reply *r)
{
	struct signer_ipc *s = (struct signer_ipc *)base;
	struct signer_req req;
	int	 i;

	memset(&req, 0, sizeof(req));
	pthread_mutex_lock(&s->mu);
	if ((i = take_slot(s)) < 0) {
		pthread_mutex_unlock(&s->mu);
		signer_reply_set(r, SIGNER_TEMP, "signer process unavailable");
		return;
	}
	req.magic = SIGNER_MAGIC_REQ;
	req.id = s->slots[i].gen * SLOTS + (uint32_t)i;
	req.key = key;
	req.alg = (uint32_t)alg;
	memcpy(req.digest, digest, DKIM_DIGEST_LEN);
	pthread_mutex_unlock(&s->mu);
	if (send(s->fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		pthread_mutex_lock(&s->mu);
		s->slots[i].busy = 0;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->mu);
		signer_reply_set(r, SIGNER_TEMP, "signer process unavailable: "
		    "%s", strerror(errno));
		return;
	}
	pthread_mutex_lock(&s->mu);
	wait_reply(s, i, r);
	pthread_mutex_unlock(&s->mu);
}

/* ipc_free - close the link, join the reader */
static void
ipc_free(struct signer *base)
{
	struct signer_ipc *s = (struct signer_ipc *)base;

	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->reader, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static const struct signer_ops ipc_ops = { ipc_sign, ipc_free };

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
	s->fd = fd;
	s->timeout_ms = timeout_ms;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	for (int i = 0; i < SLOTS; i++)
		pthread_cond_init(&s->slots[i].cond, NULL);
	if (pthread_create(&s->reader, NULL, reader, s) != 0) {
		close(fd);
		free(s);
		return NULL;
	}
	return &s->base;
}

/* signer_ipc_broken - 1 once the signer process is gone */
int
signer_ipc_broken(struct signer *base)
{
	struct signer_ipc *s = (struct signer_ipc *)base;
	int	 b;

	pthread_mutex_lock(&s->mu);
	b = s->broken;
	pthread_mutex_unlock(&s->mu);
	return b;
}
