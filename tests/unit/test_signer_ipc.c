/*
 * test_signer_ipc.c - the link between a front and the signer process
 * (daemon/signer_ipc.c, daemon/signer_serve.c), both ends in this process
 * with a fake local signer behind signer_ipc_serve: what travels is what
 * arrives, to the thread that asked; refusals keep their reasons; a late
 * reply is never taken for another request's; garbage on a channel or the
 * link drops it, a channel lost on the way does not; stop answers what is
 * in flight.
 *
 * The fake "signs" by reversing the digest and appending the key number,
 * so every reply can be checked against its request.  It can be made
 * slow, and it records how many calls ran at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/fdpass.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"

#define NO_KEY		99	/* the fake refuses this key number */
#define TOKEN_CALLS	3	/* signer_ipc_serve's limit in these tests */

struct fake {
	struct signer base;
	int	 delay_ms;	/* each call sleeps this long */
	pthread_mutex_t mu;
	int	 running, most, calls;
};

struct rig {
	struct fake fake;
	int	 ctl;		/* the parent's end of the control socket */
	int	 serve_fd;
	pthread_t serve;
	int	 served;	/* signer_ipc_serve's result */
	int	 stopped;
	struct signer *front;	/* NULL in the raw-link tests */
	int	 link;		/* the raw-link tests' end of the link */
	uint32_t link_id;	/* the parent's name for it */
};

/* sleep_ms - nanosleep for ms */
static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* expected - what the fake answers for a digest and key */
static void
expected(const unsigned char digest[DKIM_DIGEST_LEN], uint32_t key,
    unsigned char out[DKIM_DIGEST_LEN + 1])
{
	for (int i = 0; i < DKIM_DIGEST_LEN; i++)
		out[i] = digest[DKIM_DIGEST_LEN - 1 - i];
	out[DKIM_DIGEST_LEN] = (unsigned char)key;
}

static void
fake_sign(struct signer *base, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN], struct signer_reply *r)
{
	struct fake *f = (struct fake *)base;
	int	 delay;

	(void)alg;
	pthread_mutex_lock(&f->mu);
	f->calls++;
	if (++f->running > f->most)
		f->most = f->running;
	delay = f->delay_ms;
	pthread_mutex_unlock(&f->mu);
	if (delay > 0)
		sleep_ms(delay);
	if (key == NO_KEY) {
		signer_reply_set(r, SIGNER_PERM, "no key number %u", key);
	} else {
		r->status = SIGNER_OK;
		r->len = DKIM_DIGEST_LEN + 1;
		expected(digest, key, r->sig);
	}
	pthread_mutex_lock(&f->mu);
	f->running--;
	pthread_mutex_unlock(&f->mu);
}

static void
fake_free(struct signer *base)
{
	(void)base;
}

static const struct signer_ops fake_ops = { fake_sign, fake_free, NULL,
	NULL };

/* set_delay - how slow the fake is from now on */
static void
set_delay(struct rig *g, int ms)
{
	pthread_mutex_lock(&g->fake.mu);
	g->fake.delay_ms = ms;
	pthread_mutex_unlock(&g->fake.mu);
}

/* fake_view - every table is the fake itself */
static struct signer *
fake_view(void *ctx, uint32_t table)
{
	(void)table;
	return ctx;
}

/* fake_load - every table loads */
static int
fake_load(void *ctx, uint32_t table, int fd, uint32_t flags,
    uint32_t *unseen, char *err, size_t len)
{
	(void)ctx;
	(void)table;
	(void)fd;
	(void)flags;
	(void)err;
	(void)len;
	*unseen = 0;
	return 0;
}

/* fake_retire - nothing to do */
static void
fake_retire(void *ctx, uint32_t table)
{
	(void)ctx;
	(void)table;
}

static void *
serve_thread(void *arg)
{
	struct rig *g = arg;
	struct signer_host host = { &g->fake.base, fake_view, fake_load,
	    fake_retire, NULL };

	g->served = signer_ipc_serve(&host, g->serve_fd, TOKEN_CALLS);
	return NULL;
}

/* rig_link - a new link, named id, passed to the signer; our end */
static int
rig_link(struct rig *g, uint32_t id)
{
	uint32_t arg[2] = { id, 1 };
	int	 link[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, link), 0);
	assert_int_equal(fdpass_sendmsg(g->ctl, 'F', link[1], arg,
	    sizeof(arg)), 0);
	close(link[1]);
	return link[0];
}

/* rig_new - a serving signer with one link; a front on it unless raw */
static struct rig *
rig_new(int raw, unsigned timeout_ms)
{
	struct rig *g = calloc(1, sizeof(*g));
	int	 ctl[2], link[2];

	assert_non_null(g);
	g->fake.base.ops = &fake_ops;
	pthread_mutex_init(&g->fake.mu, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctl), 0);
	g->ctl = ctl[0];
	g->serve_fd = ctl[1];
	assert_int_equal(pthread_create(&g->serve, NULL, serve_thread, g), 0);
	g->link_id = 1;
	link[0] = rig_link(g, g->link_id);
	if (raw)
		g->link = link[0];
	else {
		g->link = -1;
		g->front = signer_ipc_new(link[0], timeout_ms);
		assert_non_null(g->front);
	}
	return g;
}

/* rig_stop - the parent says 'Q'; signer_ipc_serve returns */
static void
rig_stop(struct rig *g)
{
	if (g->stopped)
		return;
	assert_int_equal(fdpass_send(g->ctl, 'Q', -1), 0);
	assert_int_equal(pthread_join(g->serve, NULL), 0);
	assert_int_equal(g->served, 0);
	g->stopped = 1;
}

static void
rig_free(struct rig *g)
{
	rig_stop(g);
	signer_free(g->front);
	if (g->link >= 0)
		close(g->link);
	close(g->ctl);
	close(g->serve_fd);
	pthread_mutex_destroy(&g->fake.mu);
	free(g);
}

/* digest_of - a digest that names thread t's request i */
static void
digest_of(int t, int i, unsigned char d[DKIM_DIGEST_LEN])
{
	for (int j = 0; j < DKIM_DIGEST_LEN; j++)
		d[j] = (unsigned char)(t * 31 + i * 7 + j * j);
}

struct asker {
	struct rig *g;
	int	 t, n, wrong;
};

static void *
ask_thread(void *arg)
{
	struct asker *a = arg;
	unsigned char d[DKIM_DIGEST_LEN], want[DKIM_DIGEST_LEN + 1];
	struct signer_reply r;

	for (int i = 0; i < a->n; i++) {
		digest_of(a->t, i, d);
		expected(d, (uint32_t)a->t, want);
		signer_sign(a->g->front, (uint32_t)a->t, DKIM_ALG_RSA_SHA256,
		    d, &r);
		if (r.status != SIGNER_OK || r.len != sizeof(want) ||
		    memcmp(r.sig, want, sizeof(want)) != 0)
			a->wrong++;
	}
	return NULL;
}

/* 16 threads at once: every reply is the right one, for the right thread */
static void
test_each_thread_gets_its_reply(void **state)
{
	struct rig *g = rig_new(0, 5000);
	struct asker a[16];
	pthread_t th[16];

	(void)state;
	set_delay(g, 1);
	for (int t = 0; t < 16; t++) {
		a[t] = (struct asker){ g, t, 100, 0 };
		assert_int_equal(pthread_create(&th[t], NULL, ask_thread,
		    &a[t]), 0);
	}
	for (int t = 0; t < 16; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(a[t].wrong, 0);
	}
	rig_stop(g);		/* its threads are gone: no lock needed */
	assert_int_equal(g->fake.calls, 1600);
	/* The token calls at once never passed the configured number. */
	assert_true(g->fake.most >= 2);
	assert_true(g->fake.most <= TOKEN_CALLS);
	rig_free(g);
}

/* a refusal arrives as a refusal, with its reason */
static void
test_refusal_keeps_reason(void **state)
{
	struct rig *g = rig_new(0, 5000);
	unsigned char d[DKIM_DIGEST_LEN] = { 0 };
	struct signer_reply r;

	(void)state;
	signer_sign(g->front, NO_KEY, DKIM_ALG_RSA_SHA256, d, &r);
	assert_int_equal(r.status, SIGNER_PERM);
	assert_int_equal(r.len, 0);
	assert_string_equal(r.reason, "no key number 99");
	rig_free(g);
}

/* too slow: a temporary failure; the late reply never answers the next */
static void
test_timeout_then_fresh_reply(void **state)
{
	struct rig *g = rig_new(0, 100);
	unsigned char d[DKIM_DIGEST_LEN], want[DKIM_DIGEST_LEN + 1];
	struct signer_reply r;

	(void)state;
	set_delay(g, 400);
	digest_of(1, 1, d);
	signer_sign(g->front, 1, DKIM_ALG_RSA_SHA256, d, &r);
	assert_int_equal(r.status, SIGNER_TEMP);
	assert_string_equal(r.reason, "signer did not answer in 100 ms");
	set_delay(g, 0);
	for (int i = 0; i < 5; i++) {
		digest_of(2, i, d);
		expected(d, 2, want);
		signer_sign(g->front, 2, DKIM_ALG_RSA_SHA256, d, &r);
		assert_int_equal(r.status, SIGNER_OK);
		assert_memory_equal(r.sig, want, sizeof(want));
	}
	sleep_ms(450);		/* the slow call ends; its reply goes nowhere */
	digest_of(3, 0, d);
	expected(d, 3, want);
	signer_sign(g->front, 3, DKIM_ALG_RSA_SHA256, d, &r);
	assert_int_equal(r.status, SIGNER_OK);
	assert_memory_equal(r.sig, want, sizeof(want));
	assert_false(signer_ipc_broken(g->front));
	rig_free(g);
}

/* channel_on - a channel opened by hand on a raw link; our end */
static int
channel_on(int link)
{
	int	 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(fdpass_send(link, SIGNER_LINK_CHANNEL, sv[1]), 0);
	close(sv[1]);
	return sv[0];
}

/* raw_channel - a channel opened by hand on the rig's raw link */
static int
raw_channel(struct rig *g)
{
	return channel_on(g->link);
}

/* raw_ask - one well-formed request on a raw channel; 1 if answered right */
static int
raw_ask(int fd, uint32_t key)
{
	struct signer_req req;
	struct signer_rep rep;
	unsigned char want[DKIM_DIGEST_LEN + 1];

	memset(&req, 0, sizeof(req));
	req.magic = SIGNER_MAGIC_REQ;
	req.id = 7;
	req.key = key;
	req.alg = DKIM_ALG_RSA_SHA256;
	digest_of(9, (int)key, req.digest);
	expected(req.digest, key, want);
	return send(fd, &req, sizeof(req), MSG_NOSIGNAL) == (ssize_t)sizeof(req) &&
	    recv(fd, &rep, sizeof(rep), 0) == (ssize_t)sizeof(rep) &&
	    rep.magic == SIGNER_MAGIC_REP && rep.id == 7 &&
	    rep.status == SIGNER_OK && rep.len == sizeof(want) &&
	    memcmp(rep.sig, want, sizeof(want)) == 0;
}

/* hung_up - the peer closed fd within a second */
static int
hung_up(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char	 c;

	return poll(&pfd, 1, 1000) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

/* a record of the wrong size drops the channel, not the link */
static void
test_bad_record_drops_channel(void **state)
{
	struct rig *g = rig_new(1, 0);
	struct signer_req req;
	int	 bad = raw_channel(g), good = raw_channel(g);

	(void)state;
	assert_int_equal(send(bad, "0123456789", 10, 0), 10);
	assert_true(hung_up(bad));
	memset(&req, 0, sizeof(req));
	req.magic = 0xdeadbeef;		/* right size, wrong magic */
	close(bad);
	bad = raw_channel(g);
	assert_int_equal(send(bad, &req, sizeof(req), 0), sizeof(req));
	assert_true(hung_up(bad));
	assert_true(raw_ask(good, 5));
	close(bad);
	close(good);
	rig_free(g);
}

/*
 * signer_rep_decode: only the reply to this request, whole, is taken; a
 * status out of range, or an OK without a signature that fits, is a
 * temporary failure (an OK without one was found by
 * fuzz/fuzz_signer_frames); the reason is always a string
 */
static void
test_reply_decode(void **state)
{
	static const struct {
		uint32_t status, len;
		enum signer_status want;
		size_t	 want_len;
	} cases[] = {
		{ SIGNER_OK, 256, SIGNER_OK, 256 },
		{ SIGNER_OK, DKIM_SIG_MAX, SIGNER_OK, DKIM_SIG_MAX },
		{ SIGNER_PERM, 0, SIGNER_PERM, 0 },
		{ SIGNER_TEMP, 0, SIGNER_TEMP, 0 },
		{ SIGNER_LIMIT, 0, SIGNER_LIMIT, 0 },
		{ SIGNER_TRAIL, 0, SIGNER_TRAIL, 0 },
		{ SIGNER_TRAIL + 1, 0, SIGNER_TEMP, 0 },
		{ 7, 256, SIGNER_TEMP, 0 },
		{ SIGNER_OK, 0, SIGNER_TEMP, 0 },
		{ SIGNER_OK, DKIM_SIG_MAX + 1, SIGNER_TEMP, 0 },
		{ SIGNER_OK, UINT32_MAX, SIGNER_TEMP, 0 },
	};
	struct signer_rep rep;
	struct signer_reply r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&rep, 'x', sizeof(rep));	/* a reason without its NUL */
		rep.magic = SIGNER_MAGIC_REP;
		rep.id = 5;
		rep.status = cases[i].status;
		rep.len = cases[i].len;
		assert_int_equal(signer_rep_decode(&rep, sizeof(rep), 5, &r), 1);
		if (r.status != cases[i].want || (r.status == SIGNER_OK &&
		    r.len != cases[i].want_len))
			fail_msg("case %zu: status %d, %zu bytes", i, r.status,
			    r.len);
		assert_non_null(memchr(r.reason, '\0', sizeof(r.reason)));
	}
	assert_int_equal(signer_rep_decode(&rep, sizeof(rep), 6, &r), 0);
	assert_int_equal(signer_rep_decode(&rep, sizeof(rep) - 1, 5, &r), 0);
	assert_int_equal(signer_rep_decode(&rep, sizeof(rep) + 1, 5, &r), 0);
	rep.magic = SIGNER_MAGIC_REQ;
	assert_int_equal(signer_rep_decode(&rep, sizeof(rep), 5, &r), 0);
}

/* anything but a channel on the link drops the link */
static void
test_link_garbage_drops_link(void **state)
{
	struct rig *g;
	int	 p[2];

	(void)state;
	g = rig_new(1, 0);			/* a pipe is no channel */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fdpass_send(g->link, SIGNER_LINK_CHANNEL, p[1]), 0);
	close(p[1]);
	assert_true(hung_up(g->link));
	close(p[0]);
	rig_free(g);

	g = rig_new(1, 0);			/* another tag, no descriptor */
	assert_int_equal(fdpass_send(g->link, 'X', -1), 0);
	assert_true(hung_up(g->link));
	rig_free(g);

	g = rig_new(1, 0);			/* a stream socket */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	assert_int_equal(fdpass_send(g->link, SIGNER_LINK_CHANNEL, p[1]), 0);
	close(p[1]);
	assert_true(hung_up(g->link));
	close(p[0]);
	rig_free(g);
}

/* open_fds - descriptors open in this process (the signer's side too) */
static int
open_fds(void)
{
	int	 n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* send_fds - n bytes with nfds descriptors (1 or 2) in one message */
static void
send_fds(int sock, const char *bytes, size_t n, const int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char	 buf[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct iovec iov = { (void *)(uintptr_t)bytes, n };
	struct msghdr msg;

	memset(&msg, 0, sizeof(msg));
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
	u.h.cmsg_level = SOL_SOCKET;
	u.h.cmsg_type = SCM_RIGHTS;
	u.h.cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
	memcpy(CMSG_DATA(&u.h), fds, (size_t)nfds * sizeof(int));
	assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)n);
}

/* send_two - the channel tag with two descriptors in one message */
static void
send_two(int sock, int a, int b)
{
	static const char tag = SIGNER_LINK_CHANNEL;
	int	 fds[2] = { a, b };

	send_fds(sock, &tag, 1, fds, 2);
}

/*
 * the channel tag without a descriptor, or with two: the link is dropped,
 * and the two descriptors are closed in the signer, not kept
 */
static void
test_not_one_descriptor_drops_link(void **state)
{
	struct rig *g;
	int	 a[2], before = open_fds();

	(void)state;
	g = rig_new(1, 0);
	assert_int_equal(fdpass_send(g->link, SIGNER_LINK_CHANNEL, -1), 0);
	assert_true(hung_up(g->link));
	rig_free(g);

	g = rig_new(1, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, a), 0);
	send_two(g->link, a[0], a[1]);
	assert_true(hung_up(g->link));
	close(a[0]);
	close(a[1]);
	rig_free(g);
	sleep_ms(50);			/* the channel threads of linked() end */
	assert_int_equal(open_fds(), before);
}

/*
 * a message longer than its tag, with a channel: not a channel message,
 * so the link is dropped and the channel closed in the signer (found by
 * fuzz/fuzz_signer_frames)
 */
static void
test_long_link_message_drops_link(void **state)
{
	static const char msg[] = { SIGNER_LINK_CHANNEL, 'x', 'y' };
	struct rig *g;
	int	 a[2], before = open_fds();

	(void)state;
	g = rig_new(1, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, a), 0);
	send_fds(g->link, msg, sizeof(msg), &a[1], 1);
	close(a[1]);
	assert_true(hung_up(g->link));
	assert_true(hung_up(a[0]));		/* its other end was closed */
	close(a[0]);
	rig_free(g);
	assert_int_equal(open_fds(), before);
}

/*
 * a channel the kernel could not pass (the signer had no descriptor
 * free) is logged and skipped: the link goes on, the front sees that one
 * channel closed
 */
static void
test_lost_channel_keeps_link(void **state)
{
	struct rig *g = rig_new(1, 0);
	struct rlimit was, low;
	int	 sv[2], free_fd, ch;

	(void)state;
	/* The link has arrived; this channel stays open, so that no thread
	 * of the signer frees a descriptor while the limit is low. */
	ch = raw_channel(g);
	assert_true(raw_ask(ch, 3));
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
	free_fd = dup(0);		/* the lowest free number */
	close(free_fd);
	low = was;
	low.rlim_cur = (rlim_t)free_fd;	/* nothing more can be opened */
	if (setrlimit(RLIMIT_NOFILE, &low) < 0 || (free_fd = dup(0)) >= 0) {
		/* Not enforced here (valgrind keeps its own table). */
		if (free_fd >= 0)
			close(free_fd);
		(void)setrlimit(RLIMIT_NOFILE, &was);
		close(sv[0]);
		close(sv[1]);
		close(ch);
		rig_free(g);
		skip();
	}
	assert_int_equal(fdpass_send(g->link, SIGNER_LINK_CHANNEL, sv[1]), 0);
	sleep_ms(300);			/* the signer took it, and failed */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
	close(sv[1]);
	if (!hung_up(sv[0])) {
		/* The kernel passed it after all (valgrind keeps its own
		 * table): nothing was lost, nothing to see. */
		close(sv[0]);
		close(ch);
		rig_free(g);
		skip();
	}
	close(sv[0]);
	close(ch);
	ch = raw_channel(g);
	assert_true(raw_ask(ch, 8));
	close(ch);
	rig_free(g);
}

/*
 * open_until_refused - channels on link, each asked once, until the
 * signer closes one instead of answering; how many it took
 */
static int
open_until_refused(int link, int *ch, int max)
{
	for (int i = 0; i < max; i++) {
		ch[i] = channel_on(link);
		if (!raw_ask(ch[i], (uint32_t)i % 64)) {
			close(ch[i]);
			return i;
		}
	}
	return max;
}

/* close_all - the first n of ch */
static void
close_all(int *ch, int n)
{
	for (int i = 0; i < n; i++)
		close(ch[i]);
}

/*
 * a front that opens more channels than the signer will hold for one link
 * (it forgets the ones it gave up on sooner than the signer): the extra
 * ones are closed, the link stays; a front that keeps within
 * SIGNER_CHANNELS_MAX is never refused
 */
static void
test_channel_cap_keeps_link(void **state)
{
	enum { MAX = 2 * SIGNER_CHANNELS_MAX + 64 };
	struct rig *g = rig_new(1, 0);
	struct pollfd pfd;
	int	*ch = calloc(MAX, sizeof(int)), cap, last;

	(void)state;
	assert_non_null(ch);
	cap = open_until_refused(g->link, ch, MAX);
	assert_true(cap >= SIGNER_CHANNELS_MAX);
	assert_true(cap <= 2 * SIGNER_CHANNELS_MAX);
	assert_true(raw_ask(ch[cap - 1], 4));
	last = raw_channel(g);
	assert_true(hung_up(last));
	close(last);
	pfd = (struct pollfd){ g->link, POLLIN, 0 };
	assert_int_equal(poll(&pfd, 1, 100), 0);	/* still open */
	close_all(ch, 10);
	sleep_ms(100);			/* their threads leave */
	ch[0] = raw_channel(g);
	assert_true(raw_ask(ch[0], 6));
	close(ch[0]);
	close_all(ch + 10, cap - 10);
	free(ch);
	rig_free(g);
}

/*
 * all links share one budget of channels, below FD_SETSIZE: two links
 * filled to their caps leave none for a third, until channels close
 */
static void
test_channel_budget_shared(void **state)
{
	enum { MAX = 2 * SIGNER_CHANNELS_MAX + 64 };
	struct rig *g = rig_new(1, 0);
	int	*a = calloc(MAX, sizeof(int)), *b = calloc(MAX, sizeof(int));
	int	 na, nb, third, ch;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	na = open_until_refused(g->link, a, MAX);
	nb = open_until_refused(third = rig_link(g, 2), b, MAX);
	assert_true(na + nb < FD_SETSIZE);
	assert_true(nb >= SIGNER_CHANNELS_MAX);
	close(third);
	third = rig_link(g, 3);
	ch = channel_on(third);
	assert_true(hung_up(ch));
	close(ch);
	close_all(b, nb);
	sleep_ms(200);
	ch = channel_on(third);
	assert_true(raw_ask(ch, 5));
	close(ch);
	close(third);
	close_all(a, na);
	free(a);
	free(b);
	rig_free(g);
}

/*
 * the parent says a front is gone ('D' with its link's id): the link and
 * all its channels are closed, though their other ends are still held
 * (as by a child the front forked); other links go on
 */
static void
test_dropped_front_loses_link(void **state)
{
	enum { N = 40 };
	struct rig *g = rig_new(1, 0);
	uint32_t id = g->link_id;
	int	 ch[N], other, och;

	(void)state;
	other = rig_link(g, 2);
	och = channel_on(other);
	for (int i = 0; i < N; i++)
		ch[i] = raw_channel(g);
	assert_true(raw_ask(ch[N - 1], 3));
	assert_int_equal(fdpass_sendmsg(g->ctl, 'D', -1, &id, sizeof(id)), 0);
	assert_true(hung_up(g->link));
	for (int i = 0; i < N; i++) {
		assert_true(hung_up(ch[i]));
		close(ch[i]);
	}
	assert_true(raw_ask(och, 4));
	close(och);
	close(other);
	rig_free(g);
}

struct loaded {
	struct rig *g;
	int	 t, ok, temp, other;
	char	 why[SIGNER_REASON_MAX];
};

static void *
loaded_thread(void *arg)
{
	struct loaded *a = arg;
	unsigned char d[DKIM_DIGEST_LEN], want[DKIM_DIGEST_LEN + 1];
	struct signer_reply r;

	digest_of(a->t, 0, d);
	expected(d, (uint32_t)a->t, want);
	signer_sign(a->g->front, (uint32_t)a->t, DKIM_ALG_RSA_SHA256, d, &r);
	/* Signed right, or a temporary failure that does not blame a
	 * signer gone (the link must survive overload). */
	if (r.status == SIGNER_OK && r.len == sizeof(want) &&
	    memcmp(r.sig, want, sizeof(want)) == 0)
		a->ok = 1;
	else if (r.status == SIGNER_TEMP && r.reason[0] != '\0' &&
	    strstr(r.reason, "unavailable") == NULL)
		a->temp = 1;
	else
		a->other = 1;
	snprintf(a->why, sizeof(a->why), "%s", r.reason);
	return NULL;
}

/*
 * overload: 300 requests at once, more than the channels, against a
 * signer that needs 2 s for them all and a 200 ms timeout.  Each gets its
 * signature or a temporary failure that says why (busy, no answer in
 * time, no channel); none blames a signer gone, the link survives and
 * signs again once the load is gone.
 */
static void
test_overload_keeps_link(void **state)
{
	enum { N = 300 };
	struct rig *g = rig_new(0, 200);
	struct loaded *a = calloc(N, sizeof(*a));
	pthread_t *th = calloc(N, sizeof(*th));
	unsigned char d[DKIM_DIGEST_LEN], want[DKIM_DIGEST_LEN + 1];
	struct signer_reply r;
	int	 ok = 0, temp = 0, other = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(th);
	set_delay(g, 20);
	for (int i = 0; i < N; i++) {
		/* Key numbers the fake signs: never NO_KEY, which it refuses. */
		a[i] = (struct loaded){ g, i == NO_KEY ? N : i, 0, 0, 0, "" };
		assert_int_equal(pthread_create(&th[i], NULL, loaded_thread,
		    &a[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		ok += a[i].ok;
		temp += a[i].temp;
		if (a[i].other)
			print_error("request %d: %s\n", i, a[i].why);
		other += a[i].other;
	}
	assert_int_equal(other, 0);
	assert_int_equal(ok + temp, N);
	assert_true(ok > 0);
	assert_true(temp > 0);
	assert_false(signer_ipc_broken(g->front));
	set_delay(g, 0);
	digest_of(5, 5, d);
	expected(d, 5, want);
	for (int i = 0; i < 30; i++) {	/* abandoned requests are skipped */
		sleep_ms(100);
		signer_sign(g->front, 5, DKIM_ALG_RSA_SHA256, d, &r);
		if (r.status == SIGNER_OK)
			break;
	}
	assert_int_equal(r.status, SIGNER_OK);
	assert_memory_equal(r.sig, want, sizeof(want));
	free(a);
	free(th);
	rig_free(g);
}

struct slow {
	struct rig *g;
	struct signer_reply r;
};

static void *
slow_thread(void *arg)
{
	struct slow *s = arg;
	unsigned char d[DKIM_DIGEST_LEN] = { 1 };

	signer_sign(s->g->front, 1, DKIM_ALG_RSA_SHA256, d, &s->r);
	return NULL;
}

/* stop: what is in flight is answered; then the front sees the signer gone */
static void
test_stop_answers_in_flight(void **state)
{
	struct rig *g = rig_new(0, 5000);
	struct slow s[TOKEN_CALLS];
	pthread_t th[TOKEN_CALLS];
	unsigned char d[DKIM_DIGEST_LEN] = { 0 };
	struct signer_reply r;

	(void)state;
	set_delay(g, 300);
	for (int i = 0; i < TOKEN_CALLS; i++) {
		s[i].g = g;
		assert_int_equal(pthread_create(&th[i], NULL, slow_thread,
		    &s[i]), 0);
	}
	sleep_ms(100);			/* all of them are being signed */
	rig_stop(g);
	for (int i = 0; i < TOKEN_CALLS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(s[i].r.status, SIGNER_OK);
	}
	assert_true(signer_ipc_broken(g->front));
	signer_sign(g->front, 1, DKIM_ALG_RSA_SHA256, d, &r);
	assert_int_equal(r.status, SIGNER_TEMP);
	assert_non_null(strstr(r.reason, "signer process unavailable"));
	rig_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_thread_gets_its_reply),
		cmocka_unit_test(test_refusal_keeps_reason),
		cmocka_unit_test(test_timeout_then_fresh_reply),
		cmocka_unit_test(test_bad_record_drops_channel),
		cmocka_unit_test(test_reply_decode),
		cmocka_unit_test(test_link_garbage_drops_link),
		cmocka_unit_test(test_not_one_descriptor_drops_link),
		cmocka_unit_test(test_long_link_message_drops_link),
		cmocka_unit_test(test_lost_channel_keeps_link),
		cmocka_unit_test(test_channel_cap_keeps_link),
		cmocka_unit_test(test_channel_budget_shared),
		cmocka_unit_test(test_dropped_front_loses_link),
		cmocka_unit_test(test_overload_keeps_link),
		cmocka_unit_test(test_stop_answers_in_flight),
	};

	struct rlimit rl;

	/* Both ends live here: 2 x 512 channels need more than 1024. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	log_open("test_signer_ipc", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
