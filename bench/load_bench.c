/*
 * load_bench.c - a load generator for p11dkimd's native protocol
 * (docs/PROTOCOL.md): N connections, each in a thread of its own, ask
 * for signatures of a realistic message and time every request from its
 * first byte sent to its reply read.
 *
 *   load_bench -s SOCKET [-c N] [-m SIZE] [-d SECONDS | -n COUNT]
 *              [-r RATE] [-w SECONDS] [-H SECONDS] [-o FILE]
 *
 * Closed loop (the default): every connection sends its next request as
 * soon as the reply to the last one is in, which measures capacity.
 * Open loop (-r RATE): requests are due at fixed times, RATE per second
 * over all connections, which measures latency at a given load; a
 * request that cannot be sent on time (all connections busy) is counted
 * as late, and its latency from the time it was due is reported too, so
 * queueing in front of the daemon is not hidden.
 *
 * The message is a ticket confirmation from tickets@mosamuseum.com of
 * exactly SIZE bytes (header and body), CRLF lines of words, sent in
 * DATA chunks of at most 1 MiB.  To, Subject and Message-ID change with
 * each request; the body is made once by a fixed-seed PRNG.  With -T N
 * the sender is tickets@tNNNNN.example instead, the institutions t00001
 * ... tN of bench/tenants_build taken in turn, spread over all of them.
 *
 * -o FILE writes the last message the first connection had signed, the
 * DKIM-Signature field(s) of the reply on top, for a verifier to check.
 *
 * The last line is for scripts: "result: key=value ..." (all= counts
 * the replies of the warm-up too).  Exit status: 0
 * when every request got a reply (OK, TEMPFAIL or PERMFAIL alike), 2 when
 * some failed on the connection (I/O error, closed, a reply that is not
 * the protocol's), 1 on a usage or setup error.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define KIB		((size_t)1024)
#define MIB		(KIB * 1024)
#define CHUNK_MAX	MIB		/* one DATA chunk (PROTOCOL.md) */
#define LINE_MAX_LEN	1024		/* one reply line (PROTOCOL.md) */
#define REPLY_MAX	(64 * KIB)	/* OK payload we accept */
#define INBUF		(16 * KIB)
#define HEADER_MAX	512
#define CONNS_MAX	1024
#define SIZE_MIN	KIB
#define SIZE_MAX_BYTES	(1024 * MIB)
#define LATE_S		0.001		/* an open-loop send this late is late */
#define IO_TIMEOUT_S	60		/* a reply takes longer: failed */
#define SEED		0x6d6f73616d757365ULL

#define TEXT_MIN	60
#define TEXT_MAX	76

enum reply_kind { REPLY_OK, REPLY_TEMP, REPLY_PERM };

struct opts {
	const char *sock;
	unsigned conns;		/* -c */
	size_t	 size;		/* -m: whole message, header and body */
	double	 duration;	/* -d; 0 with -n */
	unsigned long count;	/* -n; 0 with -d */
	double	 rate;		/* -r; 0: closed loop */
	double	 warmup;	/* -w: requests not counted */
	double	 hold;		/* -H: keep the connections open after */
	unsigned tenants;	/* -T: spread over t00001..tN; 0: mosa */
	const char *out;	/* -o: write the last signed message here */
};

struct message {
	char	*body;		/* shared, read-only once made */
	size_t	 body_len;
	size_t	 header_len;	/* every request's header has this length */
	size_t	 size;
};

struct bench;

struct worker {
	struct bench *b;
	pthread_t th;
	unsigned id;
	int	 fd;		/* -1: not connected */
	unsigned long seq;	/* requests sent on this worker */
	char	 header[HEADER_MAX];
	char	 in[INBUF];
	size_t	 pos, len;	/* unread reply bytes: in[pos..len) */
	char	 reply[REPLY_MAX];
	size_t	 reply_len;	/* of an OK reply's field(s) */
	char	*last;		/* -o, worker 0: the last OK reply's field(s) */
	size_t	 last_len;
	unsigned long last_seq;	/* and the request it signed */
	struct series lat;	/* first byte sent to reply read */
	struct series sched;	/* open loop: from the time it was due */
	unsigned long ok, temp, perm, errors;
	unsigned long answered;	/* replies, warm-up included */
	unsigned long late;
	double	 max_lag;	/* seconds */
	double	 last_done;	/* when the last counted request ended */
	char	 first_error[160];
};

struct bench {
	struct opts o;
	struct message msg;
	double	 t_begin;	/* warm-up starts */
	double	 t_measure;	/* counting starts */
	double	 t_stop;	/* no request starts from then (-d) */
	double	 cpu_measured;	/* CPU seconds of this process while counting */
	atomic_ulong ticket;	/* open loop: next request due */
	unsigned long tickets;	/* open loop with -n: how many in all */
	pthread_barrier_t done;	/* every worker finished its requests */
	struct worker *w;
};

static const char *const vocab[] = {
	"the", "a", "to", "of", "and", "in", "is", "for", "on", "we", "you",
	"your", "our", "with", "at", "by", "from", "please", "thank", "you,",
	"tickets", "ticket", "museum", "exhibition", "gallery", "visit",
	"Saturday", "entrance", "guided", "tour", "collection", "opening",
	"hours", "order", "confirmation", "booking", "children", "adults",
	"members", "free", "admission", "cloakroom", "cafe", "shop", "floor",
	"will", "can", "be", "are", "this", "that", "scan", "the", "QR",
	"code", "below", "arrive", "minutes", "before", "time", "slot.",
	"Mosa", "Museum", "modern", "art,", "sculpture", "garden.", "Dear",
	"visitor,", "see", "soon.", "regards,", "questions?", "reply",
};
#define NVOCAB	(sizeof(vocab) / sizeof(vocab[0]))

/*
 * Fixed-width fields: every request's header has the same length, so
 * every message has exactly the requested size.
 */
static const char tenant_fmt[] =
    "From: Box Office <tickets@t%05lu.example>\r\n"
    "To: visitor%06lu@example.org\r\n"
    "Subject: Your tickets for Saturday (order %08lu)\r\n"
    "Date: Sat, 28 Nov 2026 10:00:00 +0100\r\n"
    "Message-ID: <%08lx.%04x@bench.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n";

static unsigned tenants;	/* -T, for header_format */

static const char header_fmt[] =
    "From: Mosa Museum Tickets <tickets@mosamuseum.com>\r\n"
    "To: visitor%06lu@example.org\r\n"
    "Subject: Your tickets for Saturday (order %08lu)\r\n"
    "Date: Sat, 28 Nov 2026 10:00:00 +0100\r\n"
    "Message-ID: <%08lx.%04x@bench.mosamuseum.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n";

/* rng_next - splitmix64: fast, fixed-seed, good enough for test data */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* text_line - words to TEXT_MIN..TEXT_MAX characters, CRLF; returns length */
static size_t
text_line(uint64_t *rng, char *out)
{
	size_t	 len = 0, wlen, target;
	const char *w;

	target = TEXT_MIN + (size_t)(rng_next(rng) % (TEXT_MAX - TEXT_MIN + 1));
	while (len < target) {
		w = vocab[rng_next(rng) % NVOCAB];
		wlen = strlen(w);
		if (len + (len > 0) + wlen > TEXT_MAX)
			break;
		if (len > 0)
			out[len++] = ' ';
		memcpy(out + len, w, wlen);
		len += wlen;
	}
	out[len++] = '\r';
	out[len++] = '\n';
	return len;
}

/*
 * body_make - exactly len bytes of mail text: paragraphs of 3 to 8 lines
 * with an empty line between, and a last line cut to fit.
 */
static void
body_make(struct message *m, size_t len)
{
	uint64_t rng = SEED;
	size_t	 at = 0, para = 0;

	if ((m->body = malloc(len)) == NULL)
		bench_fatal("malloc %zu bytes for the body: %s", len, strerror(errno));
	while (len - at >= TEXT_MAX + 5) {
		if (para == 0) {
			if (at > 0) {
				m->body[at++] = '\r';
				m->body[at++] = '\n';
			}
			para = 3 + (size_t)(rng_next(&rng) % 6);
		}
		at += text_line(&rng, m->body + at);
		para--;
	}
	while (len - at > 2)
		m->body[at++] = (char)('a' + rng_next(&rng) % 26);
	if (len - at == 2)
		m->body[at++] = '\r';
	m->body[at] = '\n';
	m->body_len = len;
}

/* header_format - the header of request seq of worker id; its length */
static size_t
header_format(char *buf, size_t len, unsigned long seq, unsigned id)
{
	int	 n;

	if (tenants > 0)	/* worker id's requests walk the institutions */
		n = snprintf(buf, len, tenant_fmt, (seq * 7919 + id * 104729) %
		    tenants + 1, (seq * 7919 + id) % 1000000UL, seq %
		    100000000UL, seq & 0xffffffffUL, id & 0xffffU);
	else
		n = snprintf(buf, len, header_fmt, (seq * 7919 + id) %
		    1000000UL, seq % 100000000UL, seq & 0xffffffffUL,
		    id & 0xffffU);
	if (n < 0 || (size_t)n >= len)
		bench_fatal("header does not fit in %zu bytes", len);
	return (size_t)n;
}

/* header_make - the worker's next header; returns its length */
static size_t
header_make(struct worker *w)
{
	return header_format(w->header, sizeof(w->header), w->seq++, w->id);
}

/* message_make - the body for messages of size bytes */
static void
message_make(struct message *m, size_t size)
{
	char	 header[HEADER_MAX];

	m->header_len = header_format(header, sizeof(header), 0, 0);
	if (size < m->header_len + 2)
		bench_fatal("message size %zu is smaller than its header", size);
	m->size = size;
	body_make(m, size - m->header_len);
}

/*
 * fail - a request failed on the connection: close it, and count it
 * (keeping the first reason) unless it happened during the warm-up.
 */
static int
fail(struct worker *w, const char *why)
{
	if (bench_now() >= w->b->t_measure) {
		w->errors++;
		if (w->first_error[0] == '\0')
			snprintf(w->first_error, sizeof(w->first_error), "%s",
			    why);
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	return -1;
}

/*
 * connect_daemon - a new connection to the socket; 0 or -1.  A daemon
 * that stops answering fails the request after IO_TIMEOUT_S instead of
 * hanging the bench.
 */
static int
connect_daemon(struct worker *w)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	struct sockaddr_un sa;
	char	 why[128];

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", w->b->o.sock);
	w->pos = w->len = 0;
	if ((w->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(w->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(w->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, sizeof(why), "connect %s: %s", w->b->o.sock,
		    strerror(errno));
		return fail(w, why);
	}
	return 0;
}

/* send_all - every byte of the vector; 0 or -1 */
static int
send_all(int fd, struct iovec *iov, int n)
{
	struct msghdr mh;
	ssize_t	 k;

	while (n > 0) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)n;
		k = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		while (n > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* add_iov - a piece of the message into the vector, unless empty */
static int
add_iov(struct iovec *iov, int n, const char *p, size_t len)
{
	if (len == 0)
		return n;
	iov[n].iov_base = (void *)(uintptr_t)p;
	iov[n].iov_len = len;
	return n + 1;
}

/*
 * send_request - SIGN, the message in DATA chunks of at most 1 MiB (the
 * header in the first), END; one sendmsg per chunk.
 */
static int
send_request(struct worker *w, size_t hlen)
{
	const struct message *m = &w->b->msg;
	struct iovec iov[4];
	char	 cmd[64];
	size_t	 off, n, hpart, bstart;
	int	 k;

	for (off = 0; off < m->size; off += n) {
		n = m->size - off < CHUNK_MAX ? m->size - off : CHUNK_MAX;
		snprintf(cmd, sizeof(cmd), "%sDATA %zu\n", off == 0 ? "SIGN\n" :
		    "", n);
		k = add_iov(iov, 0, cmd, strlen(cmd));
		hpart = 0;
		if (off < hlen) {
			hpart = hlen - off < n ? hlen - off : n;
			k = add_iov(iov, k, w->header + off, hpart);
		}
		bstart = off + hpart - hlen;
		k = add_iov(iov, k, m->body + bstart, n - hpart);
		if (off + n == m->size)
			k = add_iov(iov, k, "END\n", 4);
		if (send_all(w->fd, iov, k) < 0)
			return -1;
	}
	return 0;
}

/* fill - more reply bytes; 1, 0 at EOF, -1 on error */
static int
fill(struct worker *w)
{
	ssize_t	 n;

	if (w->pos == w->len)
		w->pos = w->len = 0;
	else if (w->pos > 0) {
		memmove(w->in, w->in + w->pos, w->len - w->pos);
		w->len -= w->pos;
		w->pos = 0;
	}
	do
		n = read(w->fd, w->in + w->len, sizeof(w->in) - w->len);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? 0 : -1;
	w->len += (size_t)n;
	return 1;
}

/* read_line - the reply line, without LF; 0 or -1 */
static int
read_line(struct worker *w, char *line)
{
	char	*lf;
	size_t	 n;

	while ((lf = memchr(w->in + w->pos, '\n', w->len - w->pos)) == NULL) {
		if (w->len - w->pos >= LINE_MAX_LEN || fill(w) <= 0)
			return -1;
	}
	n = (size_t)(lf - (w->in + w->pos));
	if (n >= LINE_MAX_LEN)
		return -1;
	memcpy(line, w->in + w->pos, n);
	line[n] = '\0';
	w->pos += n + 1;
	return 0;
}

/* read_payload - n bytes after "OK n" into w->reply; 0 or -1 */
static int
read_payload(struct worker *w, size_t n)
{
	size_t	 got = 0, k;

	while (got < n) {
		if (w->pos == w->len && fill(w) <= 0)
			return -1;
		k = w->len - w->pos < n - got ? w->len - w->pos : n - got;
		memcpy(w->reply + got, w->in + w->pos, k);
		w->pos += k;
		got += k;
	}
	return 0;
}

/* read_reply - one reply: its kind, or -1 (with why) when it is not one */
static int
read_reply(struct worker *w, const char **why)
{
	static const char field[] = "DKIM-Signature:";
	char	 line[LINE_MAX_LEN];
	char	*end;
	unsigned long n;

	*why = "connection closed or failed before the reply";
	if (read_line(w, line) < 0)
		return -1;
	if (strncmp(line, "TEMPFAIL", 8) == 0)
		return REPLY_TEMP;
	if (strncmp(line, "PERMFAIL", 8) == 0)
		return REPLY_PERM;
	*why = "a reply that is not OK n, TEMPFAIL or PERMFAIL";
	if (strncmp(line, "OK ", 3) != 0)
		return -1;
	n = strtoul(line + 3, &end, 10);
	if (*end != '\0' || n < sizeof(field) || n > REPLY_MAX)
		return -1;
	*why = "connection closed or failed in the signature";
	if (read_payload(w, n) < 0)
		return -1;
	w->reply_len = n;
	*why = "an OK payload that is not a DKIM-Signature field";
	return strncasecmp(w->reply, field, sizeof(field) - 1) == 0 ?
	    REPLY_OK : -1;
}

/* count - one answered request that started in the measured time */
static void
count(struct worker *w, int kind, double t0, double t1, double due)
{
	if (t0 < w->b->t_measure)
		return;
	if (kind == REPLY_OK)
		w->ok++;
	else if (kind == REPLY_TEMP)
		w->temp++;
	else
		w->perm++;
	series_add(&w->lat, (t1 - t0) * 1000);
	if (due > 0)
		series_add(&w->sched, (t1 - due) * 1000);
	w->last_done = t1;
}

/*
 * one_request - connect when needed, send, read the reply, count it.  A
 * refusal may close the connection (PROTOCOL.md), so the next request
 * after TEMPFAIL or PERMFAIL uses a new one.
 */
static void
one_request(struct worker *w, double due)
{
	const char *why = "send failed";
	double	 t0, t1;
	size_t	 hlen;
	int	 kind;

	if (w->fd < 0 && connect_daemon(w) < 0) {
		usleep(10000);
		return;
	}
	hlen = header_make(w);
	t0 = bench_now();
	kind = send_request(w, hlen) < 0 ? -1 : read_reply(w, &why);
	t1 = bench_now();
	if (kind < 0) {
		(void)fail(w, why);
		return;
	}
	w->answered++;
	count(w, kind, t0, t1, due);
	if (kind == REPLY_OK && w->last != NULL) {
		memcpy(w->last, w->reply, w->reply_len);
		w->last_len = w->reply_len;
		w->last_seq = w->seq - 1;
	}
	if (kind != REPLY_OK) {
		close(w->fd);
		w->fd = -1;
	}
}

/* share - how many counted requests worker id does with -n */
static unsigned long
share(const struct bench *b, unsigned id)
{
	return b->o.count / b->o.conns + (id < b->o.count % b->o.conns);
}

/* counted - requests this worker has counted so far */
static unsigned long
counted(const struct worker *w)
{
	return w->ok + w->temp + w->perm + w->errors;
}

/* closed_loop - requests back to back until the time or the share is done */
static void
closed_loop(struct worker *w)
{
	const struct bench *b = w->b;
	unsigned long mine = share(b, w->id);

	for (;;) {
		if (b->o.duration > 0 ? bench_now() >= b->t_stop :
		    bench_now() >= b->t_measure && counted(w) >= mine)
			break;
		one_request(w, 0);
	}
}

/* open_loop - take the next due request, wait for its time, send it */
static void
open_loop(struct worker *w)
{
	struct bench *b = w->b;
	unsigned long t;
	double	 due, lag;

	for (;;) {
		t = atomic_fetch_add(&b->ticket, 1);
		due = b->t_begin + (double)t / b->o.rate;
		if (b->o.duration > 0 ? due >= b->t_stop : t >= b->tickets)
			break;
		bench_sleep_until(due);
		lag = bench_now() - due;
		if (due >= b->t_measure) {
			w->late += lag > LATE_S;
			if (lag > w->max_lag)
				w->max_lag = lag;
		}
		one_request(w, due);
	}
}

/* hold - keep the connection open (idle) once every worker is done */
static void
hold(struct worker *w)
{
	int	 rc = pthread_barrier_wait(&w->b->done);

	if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
		fprintf(stderr, "load_bench: holding %u connections open, idle, "
		    "for %.1f s\n", w->b->o.conns, w->b->o.hold);
	if (w->fd < 0)
		(void)connect_daemon(w);
	usleep((useconds_t)(w->b->o.hold * 1e6));
}

/* worker_run - a connection's thread */
static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	if (w->b->o.rate > 0)
		open_loop(w);
	else
		closed_loop(w);
	if (w->b->o.hold > 0)
		hold(w);
	if (w->fd >= 0)
		close(w->fd);
	return NULL;
}

/* usage - how to call; exits 1 */
static void
usage(void)
{
	fprintf(stderr, "usage: load_bench -s SOCKET [-c N] [-m SIZE] "
	    "[-d SECONDS | -n COUNT] [-r RATE]\n"
	    "                  [-w SECONDS] [-H SECONDS] [-T N] [-o FILE]\n"
	    "  -s SOCKET   p11dkimd's socket\n"
	    "  -c N        connections, one thread each (default 8, at most "
	    "%d)\n"
	    "  -m SIZE     message size, header and body: bytes, or with k or "
	    "m\n              (KiB, MiB) (default 4k)\n"
	    "  -d SECONDS  send for this long (default 5)\n"
	    "  -n COUNT    send this many requests instead (split over the "
	    "connections)\n"
	    "  -r RATE     open loop: RATE requests per second in all\n"
	    "  -w SECONDS  warm up this long first (not counted)\n"
	    "  -H SECONDS  then keep every connection open, idle, this long\n"
	    "  -T N        spread over the institutions t00001 ... tN of "
	    "bench/tenants_build\n"
	    "  -o FILE     write the first connection's last signed message, "
	    "signature on top\n",
	    CONNS_MAX);
	exit(1);
}

/* parse_size - bytes, with an optional k or m suffix */
static size_t
parse_size(const char *s)
{
	char	*end;
	unsigned long long v = strtoull(s, &end, 10);
	size_t	 unit = 1;

	if (*end == 'k' || *end == 'K')
		unit = KIB;
	else if (*end == 'm' || *end == 'M')
		unit = MIB;
	if (unit > 1)
		end++;
	if (*s < '0' || *s > '9' || *end != '\0' || v > SIZE_MAX_BYTES / unit ||
	    v * unit < SIZE_MIN)
		usage();
	return (size_t)(v * unit);
}

/* parse_opts - the command line */
static void
parse_opts(struct opts *o, int argc, char **argv)
{
	int	 ch;

	memset(o, 0, sizeof(*o));
	o->conns = 8;
	o->size = 4 * KIB;
	while ((ch = getopt(argc, argv, "s:c:m:d:n:r:w:H:T:o:")) != -1) {
		switch (ch) {
		case 's': o->sock = optarg; break;
		case 'c': o->conns = (unsigned)bench_arg_double(optarg, 1,
		    CONNS_MAX, usage); break;
		case 'm': o->size = parse_size(optarg); break;
		case 'd': o->duration = bench_arg_double(optarg,
		    0.01, 86400, usage); break;
		case 'n': o->count = (unsigned long)bench_arg_double(optarg, 1,
		    1e9, usage); break;
		case 'r': o->rate = bench_arg_double(optarg,
		    0.1, 1e6, usage); break;
		case 'w': o->warmup = bench_arg_double(optarg,
		    0, 3600, usage); break;
		case 'H': o->hold = bench_arg_double(optarg,
		    0, 3600, usage); break;
		case 'T': o->tenants = (unsigned)bench_arg_double(optarg, 1,
		    99999, usage); break;
		case 'o': o->out = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || o->sock == NULL || (o->duration > 0 && o->count))
		usage();
	if (strlen(o->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		bench_fatal("socket path too long: %s", o->sock);
	if (o->duration == 0 && o->count == 0)
		o->duration = 5;
	tenants = o->tenants;
}

/* start - make the message, start every worker */
static void
start(struct bench *b)
{
	b->w = calloc(b->o.conns, sizeof(*b->w));
	if (b->w == NULL)
		bench_fatal("out of memory for %u workers", b->o.conns);
	message_make(&b->msg, b->o.size);
	if (pthread_barrier_init(&b->done, NULL, b->o.conns) != 0)
		bench_fatal("pthread_barrier_init failed");
	b->t_begin = bench_now();
	b->t_measure = b->t_begin + b->o.warmup;
	b->t_stop = b->t_measure + b->o.duration;
	b->tickets = (unsigned long)(b->o.warmup * b->o.rate + 0.999) +
	    b->o.count;
	for (unsigned i = 0; i < b->o.conns; i++) {
		b->w[i].b = b;
		b->w[i].id = i;
		b->w[i].fd = -1;
		if (i == 0 && b->o.out != NULL &&
		    (b->w[i].last = malloc(REPLY_MAX)) == NULL)
			bench_fatal("out of memory for -o");
		if (pthread_create(&b->w[i].th, NULL, worker_run, &b->w[i]) != 0)
			bench_fatal("cannot start thread %u of %u", i + 1, b->o.conns);
	}
}

/*
 * write_last - -o: the last message worker 0 had signed, its reply's
 * field(s) on top, as a client would deliver it
 */
static void
write_last(const struct bench *b)
{
	const struct worker *w = &b->w[0];
	char	 header[HEADER_MAX];
	size_t	 hlen;
	FILE	*f;

	if (w->last_len == 0)
		bench_fatal("-o %s: the first connection had no message signed",
		    b->o.out);
	hlen = header_format(header, sizeof(header), w->last_seq, w->id);
	if ((f = fopen(b->o.out, "wb")) == NULL)
		bench_fatal("-o %s: %s", b->o.out, strerror(errno));
	if (fwrite(w->last, 1, w->last_len, f) != w->last_len ||
	    fwrite(header, 1, hlen, f) != hlen ||
	    fwrite(b->msg.body, 1, b->msg.body_len, f) != b->msg.body_len) {
		(void)fclose(f);
		bench_fatal("-o %s: write failed", b->o.out);
	}
	if (fclose(f) != 0)
		bench_fatal("-o %s: %s", b->o.out, strerror(errno));
}

/* report - the totals, the percentiles and the result line */
static int
report(struct bench *b)
{
	struct series lat = { 0 }, sched = { 0 };
	unsigned long ok = 0, temp = 0, perm = 0, errors = 0, late = 0, all = 0;
	double	 last = b->t_measure, max_lag = 0, secs, rate, cpu_us;
	const char *why = "";

	for (unsigned i = 0; i < b->o.conns; i++) {
		struct worker *w = &b->w[i];

		ok += w->ok;
		temp += w->temp;
		perm += w->perm;
		errors += w->errors;
		late += w->late;
		all += w->answered;
		max_lag = w->max_lag > max_lag ? w->max_lag : max_lag;
		last = w->last_done > last ? w->last_done : last;
		series_merge(&lat, &w->lat);
		series_merge(&sched, &w->sched);
		if (*why == '\0')
			why = w->first_error;
	}
	series_sort(&lat);
	series_sort(&sched);
	secs = last - b->t_measure;
	rate = secs > 0 ? (double)ok / secs : 0;
	cpu_us = lat.n ? b->cpu_measured * 1e6 / (double)lat.n : 0;
	printf("load_bench: %u connection(s), %s loop, %zu-byte messages, "
	    "%.2f s measured (after %.1f s warm-up)\n", b->o.conns,
	    b->o.rate > 0 ? "open" : "closed", b->msg.size, secs, b->o.warmup);
	printf("requests  %lu: OK %lu, TEMPFAIL %lu, PERMFAIL %lu, failed on "
	    "the connection %lu\n", ok + temp + perm + errors, ok, temp, perm,
	    errors);
	if (errors > 0)
		printf("first connection failure: %s\n", why);
	printf("rate      %.1f signs/s (%.1f MB/s of messages)\n", rate,
	    rate * (double)b->msg.size / 1e6);
	printf("latency   p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	    series_percentile(&lat, 50), series_percentile(&lat, 90), series_percentile(&lat, 99),
	    lat.n ? lat.v[lat.n - 1] : 0);
	if (b->o.rate > 0)
		printf("open loop target %.1f/s: %lu send(s) more than %.0f ms "
		    "late (max %.2f ms); p99 from the due time %.2f ms\n",
		    b->o.rate, late, LATE_S * 1000, max_lag * 1000,
		    series_percentile(&sched, 99));
	printf("client    %.1f us CPU per request (this process)\n", cpu_us);
	printf("result: ok=%lu tempfail=%lu permfail=%lu errors=%lu "
	    "signs_s=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
	    "late=%lu p99_due_ms=%.2f secs=%.2f client_cpu_us=%.1f all=%lu\n",
	    ok, temp, perm, errors, rate, series_percentile(&lat, 50),
	    series_percentile(&lat, 90), series_percentile(&lat, 99),
	    lat.n ? lat.v[lat.n - 1] : 0, late, series_percentile(&sched, 99), secs,
	    cpu_us, all);
	free(lat.v);
	free(sched.v);
	return errors > 0 ? 2 : 0;
}

int
main(int argc, char **argv)
{
	struct bench *b = calloc(1, sizeof(*b));
	int	 rc;

	if (b == NULL)
		bench_fatal("out of memory");
	parse_opts(&b->o, argc, argv);
	atomic_init(&b->ticket, 0);
	start(b);
	bench_sleep_until(b->t_measure);
	b->cpu_measured = -bench_cpu_s();
	for (unsigned i = 0; i < b->o.conns; i++)
		pthread_join(b->w[i].th, NULL);
	b->cpu_measured += bench_cpu_s();
	rc = report(b);
	if (b->o.out != NULL)
		write_last(b);
	for (unsigned i = 0; i < b->o.conns; i++) {
		free(b->w[i].lat.v);
		free(b->w[i].sched.v);
		free(b->w[i].last);
	}
	pthread_barrier_destroy(&b->done);
	free(b->msg.body);
	free(b->w);
	free(b);
	return rc;
}
