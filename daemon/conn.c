/*
 * conn.c - one client connection of the native protocol (docs/PROTOCOL.md):
 * read commands and message chunks, stream the message through the
 * signing core, choose and authorize the institution, ask the signer,
 * reply, log one line.
 *
 * Security: everything read is untrusted.  Lines are bounded, chunk sizes
 * checked, the message size limited, and the header section bounded by
 * the core.  The institution is chosen from the message (or the OPTION
 * domain) and then checked against the peer's uid and gid taken from the
 * socket (SO_PEERCRED): nothing is signed for an institution the peer
 * may not use.  Message content is never logged.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/addr.h"
#include "p11dkim/dkim_sign.h"
#include "p11dkim/log.h"
#include "front.h"

#define LINE_MAX_LEN	1024
#define CHUNK_MAX	(1024 * 1024)
#define INBUF		(64 * 1024)

struct conn {
	struct front *f;
	int	 fd;
	struct ucred peer;
	char	 in[INBUF];
	size_t	 pos, len;		/* unread bytes: in[pos..len) */
	int	 closing;		/* a framing error: close after reply */
};

enum { REQ_OK = 0, REQ_PERM, REQ_TEMP };

struct request {
	struct dkim_sign *ctx;
	char	 domain[ADDR_DOMAIN_MAX + 1];	/* OPTION domain=, or "" */
	const struct keytab_entry *e;		/* the institution's key */
	uint32_t keys[2];			/* key numbers: main, dual */
	size_t	 nkeys;
	int	 inst;				/* index, -1: not chosen */
	struct buf fields;			/* the reply: signature fields */
	size_t	 total;
	int	 fail;
	char	 reason[256];
	struct timespec start;
};

/* req_fail - the request fails (the first reason counts) */
static void __attribute__((format(printf, 3, 4)))
req_fail(struct request *r, int kind, const char *fmt, ...)
{
	va_list	 ap;

	if (r->fail)
		return;
	r->fail = kind;
	va_start(ap, fmt);
	if (vsnprintf(r->reason, sizeof(r->reason), fmt, ap) < 0)
		r->reason[0] = '\0';
	va_end(ap);
}

/* fail_dkim - a failure of the signing core, classed */
static void
fail_dkim(struct request *r, const struct dkim_err *err)
{
	req_fail(r, dkim_status_temporary(err->status) ? REQ_TEMP : REQ_PERM,
	    "%s", err->msg);
}

/* wait_io - poll fd for events within seconds; 1 ready, 0 time out */
static int
wait_io(int fd, short events, unsigned seconds)
{
	struct pollfd p = { fd, events, 0 };
	int	 rc;

	do
		rc = poll(&p, 1, (int)seconds * 1000);
	while (rc < 0 && errno == EINTR);
	return rc > 0;
}

/* fill - more bytes into the buffer; 1, 0 at EOF, -1 on error or timeout */
static int
fill(struct conn *c, unsigned timeout)
{
	ssize_t	 n;

	if (c->pos == c->len)
		c->pos = c->len = 0;
	if (!wait_io(c->fd, POLLIN, timeout))
		return -1;
	do
		n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? 0 : -1;
	c->len += (size_t)n;
	return 1;
}

/* read_line - one command line without its LF (and CR); 1, 0 EOF, -1 */
static int
read_line(struct conn *c, char *line, unsigned timeout)
{
	char	*lf;
	size_t	 n;
	int	 rc;

	for (;;) {
		lf = memchr(c->in + c->pos, '\n', c->len - c->pos);
		if (lf != NULL)
			break;
		if (c->len - c->pos >= LINE_MAX_LEN)
			return -2;
		if (c->pos > 0) {
			memmove(c->in, c->in + c->pos, c->len - c->pos);
			c->len -= c->pos;
			c->pos = 0;
		}
		if ((rc = fill(c, timeout)) <= 0)
			return rc;
	}
	n = (size_t)(lf - (c->in + c->pos));
	if (n >= LINE_MAX_LEN)
		return -2;
	memcpy(line, c->in + c->pos, n);
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	c->pos = (size_t)(lf - c->in) + 1;
	return 1;
}

/* write_all - the whole buffer, within the io timeout; 0 or -1 */
static int
write_all(struct conn *c, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if (!wait_io(c->fd, POLLOUT, c->f->conf->daemon.io_timeout))
			return -1;
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* reply_fail - "TEMPFAIL reason" or "PERMFAIL reason" */
static int
reply_fail(struct conn *c, int kind, const char *reason)
{
	char	 line[LINE_MAX_LEN];
	int	 n = snprintf(line, sizeof(line), "%s %s\n", kind == REQ_TEMP ?
	    "TEMPFAIL" : "PERMFAIL", reason);

	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)strlen(line);
	for (char *p = line; p < line + n - 1; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return write_all(c, line, (size_t)n);
}

/* reply_ok - "OK n" and the n bytes */
static int
reply_ok(struct conn *c, const char *data, size_t n)
{
	char	 head[32];
	int	 h = snprintf(head, sizeof(head), "OK %zu\n", n);

	return write_all(c, head, (size_t)h) < 0 ? -1 : write_all(c, data, n);
}

/* permitted - may the peer ask for this institution's signatures? */
static int
permitted(const struct conn *c, const struct conf_institution *i)
{
	for (size_t k = 0; k < i->nallow_uids; k++)
		if (i->allow_uids[k] == c->peer.uid)
			return 1;
	for (size_t k = 0; k < i->nallow_gids; k++)
		if (i->allow_gids[k] == c->peer.gid)
			return 1;
	return 0;
}

/* add_signature - a signature with key entry e of the institution */
static void
add_signature(struct request *r, const struct keytab_entry *e,
    const char *d_domain)
{
	const struct conf_institution *i = e->inst;
	struct dkim_sign_params p;
	struct dkim_err err;

	memset(&p, 0, sizeof(p));
	p.alg = e->alg;
	p.hcanon = i->hcanon;
	p.bcanon = i->bcanon;
	p.domain = d_domain;
	p.selector = e->selector_name;
	p.sign_headers = (const char *const *)i->headers;
	p.oversign_headers = (const char *const *)i->oversign;
	p.no_timestamp = !i->timestamp;
	p.expire_secs = i->expire;
	if (dkim_sign_add(r->ctx, &p, &err) < 0)
		fail_dkim(r, &err);
}

/* choose - the institution for the message, authorized for the peer */
static void
choose(struct conn *c, struct request *r)
{
	char	 from[ADDR_DOMAIN_MAX + 1];
	const char *domain = r->domain, *v, *why, *d_domain = NULL;
	size_t	 len;

	if (domain[0] == '\0') {
		v = dkim_sign_header_value(r->ctx, "from", &len);
		if (v == NULL || addr_from_domain(v, len, from, sizeof(from),
		    &why) < 0) {
			req_fail(r, REQ_PERM, "%s", v ? why : "no From");
			return;
		}
		domain = from;
	}
	r->e = keytab_for_domain(c->f->keys, domain, &r->keys[0], &d_domain);
	if (r->e == NULL) {
		req_fail(r, REQ_PERM, "domain %s is not signed here", domain);
		return;
	}
	r->inst = (int)(r->e->inst - c->f->conf->inst);
	if (!permitted(c, r->e->inst)) {
		log_warn("refused: uid %u gid %u may not sign for %s",
		    (unsigned)c->peer.uid, (unsigned)c->peer.gid,
		    r->e->inst->code);
		req_fail(r, REQ_PERM, "not authorized: uid %u may not sign "
		    "for %s", (unsigned)c->peer.uid, r->e->inst->code);
		return;
	}
	r->nkeys = 1;
	add_signature(r, r->e, d_domain);
	if (r->e->dual != KEYTAB_NONE && !r->fail) {
		r->keys[r->nkeys++] = r->e->dual;
		add_signature(r, &c->f->keys->e[r->e->dual], d_domain);
	}
}

/* feed - a piece of the message: headers, then (once chosen) body */
static void
feed(struct conn *c, struct request *r, const char *p, size_t n)
{
	const struct conf_daemon *d = &c->f->conf->daemon;
	struct dkim_limits lim = { d->max_header_bytes, 0 };
	struct dkim_err err;
	size_t	 used = 0;

	if (r->fail)
		return;
	if ((r->total += n) > d->max_message_bytes) {
		req_fail(r, REQ_PERM, "message larger than %zu bytes",
		    d->max_message_bytes);
		return;
	}
	if (r->ctx == NULL && (r->ctx = dkim_sign_new(&lim, &err)) == NULL) {
		fail_dkim(r, &err);
		return;
	}
	if (!dkim_sign_headers_complete(r->ctx)) {
		if (dkim_sign_headers(r->ctx, p, n, &used, &err) < 0) {
			fail_dkim(r, &err);
			return;
		}
		if (dkim_sign_headers_complete(r->ctx))
			choose(c, r);
	}
	if (!r->fail && used < n &&
	    dkim_sign_body(r->ctx, p + used, n - used, &err) < 0)
		fail_dkim(r, &err);
}

/* read_data - n bytes of message, streamed through feed; 0 or -1 */
static int
read_data(struct conn *c, struct request *r, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (c->pos == c->len &&
		    fill(c, c->f->conf->daemon.io_timeout) <= 0)
			return -1;
		k = c->len - c->pos < n ? c->len - c->pos : n;
		feed(c, r, c->in + c->pos, k);
		c->pos += k;
		n -= k;
	}
	return 0;
}

/* elapsed_ms - milliseconds since t */
static double
elapsed_ms(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1000 +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

/* message_id - the Message-ID for the log, bounded, without controls */
static void
message_id(const struct request *r, char *out, size_t len)
{
	const char *v = r->ctx ? dkim_sign_header_value(r->ctx, "message-id",
	    &len) : NULL;
	size_t	 n = 0, max = 96;

	if (v == NULL) {
		snprintf(out, 2, "-");
		return;
	}
	for (size_t i = 0; i < len && n < max; i++)
		if (v[i] > ' ' && v[i] < 127)
			out[n++] = v[i];
	out[n] = '\0';
}

/* log_request - one line per request: who, what, how big, how long, result */
static void
log_request(struct conn *c, struct request *r, double ms)
{
	char	 mid[100];
	const char *code = r->e ? r->e->inst->code : "-";
	const char *sel = r->e ? r->e->selector_name : "-";

	message_id(r, mid, sizeof(mid));
	(r->fail ? log_warn : log_info)("%s inst=%s selector=%s alg=%s%s "
	    "msgid=%s size=%zu ms=%.1f uid=%u%s%s",
	    r->fail == REQ_TEMP ? "tempfail" : r->fail ? "permfail" : "signed",
	    code, sel, r->e ? dkim_alg_name(r->e->alg) : "-", r->nkeys > 1 ?
	    "+ed25519-sha256" : "", mid, r->total,
	    ms, (unsigned)c->peer.uid, r->fail ? " reason=" : "",
	    r->fail ? r->reason : "");
}

/* sign_one - signature i through the signer; 0 or -1 (r->fail set) */
static int
sign_one(struct conn *c, struct request *r, size_t i)
{
	unsigned char digest[DKIM_DIGEST_LEN];
	struct signer_reply rep;
	struct dkim_err err;

	if (dkim_sign_digest(r->ctx, i, digest) < 0) {
		req_fail(r, REQ_TEMP, "no digest for signature %zu", i);
		return -1;
	}
	signer_sign(c->f->signer, r->keys[i], c->f->keys->e[r->keys[i]].alg,
	    digest, &rep);
	if (rep.status != SIGNER_OK) {
		if (rep.status == SIGNER_TEMP)
			stats_token_error(c->f->stats, r->inst);
		req_fail(r, rep.status == SIGNER_TEMP ? REQ_TEMP : REQ_PERM,
		    "%s", rep.reason);
		return -1;
	}
	if (dkim_sign_set_signature(r->ctx, i, rep.sig, rep.len, &err) < 0) {
		fail_dkim(r, &err);
		return -1;
	}
	return 0;
}

/*
 * sign - the message is complete: a digest per signature, the signer,
 * the signature fields (all of them, or none: never half a reply).
 */
static const char *
sign(struct conn *c, struct request *r, size_t *len)
{
	struct dkim_err err;
	const char *field;
	size_t	 flen;

	if (r->ctx == NULL) {
		req_fail(r, REQ_PERM, "empty message");
		return NULL;
	}
	if (!dkim_sign_headers_complete(r->ctx)) {
		if (dkim_sign_headers_end(r->ctx, &err) < 0) {
			fail_dkim(r, &err);
			return NULL;
		}
		choose(c, r);
		if (r->fail)
			return NULL;
	}
	if (dkim_sign_end(r->ctx, &err) < 0) {
		fail_dkim(r, &err);
		return NULL;
	}
	buf_init(&r->fields, 2 * 16384);
	for (size_t i = 0; i < r->nkeys; i++) {
		if (sign_one(c, r, i) < 0)
			return NULL;
		field = dkim_sign_field(r->ctx, i, &flen);
		if (buf_append(&r->fields, field, flen) < 0) {
			req_fail(r, REQ_TEMP, "out of memory");
			return NULL;
		}
	}
	*len = r->fields.len;
	return r->fields.data;
}

/* finish - reply to a request, log it, count it, free it */
static int
finish(struct conn *c, struct request *r)
{
	size_t	 len = 0;
	const char *field = r->fail ? NULL : sign(c, r, &len);
	double	 ms;
	int	 rc;

	rc = field ? reply_ok(c, field, len) : reply_fail(c, r->fail,
	    r->reason);
	ms = elapsed_ms(&r->start);
	log_request(c, r, ms);
	stats_request(c->f->stats, r->inst, r->fail == REQ_TEMP ?
	    STATS_TEMPFAIL : r->fail ? STATS_PERMFAIL : STATS_SIGNED, ms);
	dkim_sign_free(r->ctx);
	buf_release(&r->fields);
	return rc;
}

/* option - "OPTION name=value" before the first DATA */
static int
option(struct conn *c, struct request *r, const char *arg)
{
	if (strncmp(arg, "domain=", 7) != 0 || r->ctx != NULL ||
	    strlen(arg + 7) >= sizeof(r->domain)) {
		c->closing = 1;
		return reply_fail(c, REQ_PERM, "bad OPTION (domain=D, before "
		    "DATA)") < 0 ? -1 : 1;
	}
	for (const char *p = arg + 7; *p; p++)
		r->domain[p - arg - 7] = *p >= 'A' && *p <= 'Z' ?
		    (char)(*p - 'A' + 'a') : *p;
	return 0;
}

/* data_length - the n of "DATA n", or 0 when out of range */
static size_t
data_length(const char *arg)
{
	char	*end;
	unsigned long n = strtoul(arg, &end, 10);

	return *arg >= '0' && *arg <= '9' && *end == '\0' && n >= 1 &&
	    n <= CHUNK_MAX ? (size_t)n : 0;
}

/*
 * request - SIGN was read: options, chunks, END.  Returns 0 to go on
 * with the next request, -1 to close the connection.
 */
static int
request(struct conn *c)
{
	struct request r;
	char	 line[LINE_MAX_LEN];
	size_t	 n;
	int	 rc;

	memset(&r, 0, sizeof(r));
	r.inst = -1;
	clock_gettime(CLOCK_MONOTONIC, &r.start);
	for (;;) {
		rc = read_line(c, line, c->f->conf->daemon.io_timeout);
		if (rc <= 0)
			break;
		if (strcmp(line, "END") == 0)
			return finish(c, &r);
		if (strncmp(line, "OPTION ", 7) == 0) {
			if ((rc = option(c, &r, line + 7)) != 0)
				break;
		} else if (strncmp(line, "DATA ", 5) == 0 &&
		    (n = data_length(line + 5)) > 0) {
			if (read_data(c, &r, n) < 0)
				break;
		} else {
			c->closing = 1;
			(void)reply_fail(c, REQ_PERM, "protocol error: expected "
			    "OPTION, DATA n (1 to 1048576) or END");
			break;
		}
	}
	if (rc == -2) {
		c->closing = 1;
		(void)reply_fail(c, REQ_PERM, "protocol error: line too long");
	}
	if (c->closing)
		req_fail(&r, REQ_PERM, "protocol error");
	req_fail(&r, REQ_TEMP, "connection lost or timed out mid-request");
	log_request(c, &r, elapsed_ms(&r.start));
	dkim_sign_free(r.ctx);
	return -1;
}

/* stats - the counters */
static int
stats(struct conn *c)
{
	struct buf out;
	int	 rc;

	buf_init(&out, 1 << 20);
	rc = stats_render(c->f->stats, &out) < 0 ? -1 :
	    reply_ok(c, buf_str(&out), out.len);
	buf_release(&out);
	return rc;
}

/*
 * wait_command - idle between requests: 1 when the client sends, 0 when
 * the idle time is up or the front is draining (no new requests then).
 */
static int
wait_command(struct conn *c)
{
	unsigned waited = 0, limit = c->f->conf->daemon.idle_timeout * 1000;
	struct pollfd p = { c->fd, POLLIN, 0 };

	while (c->pos == c->len) {
		if ((c->f->stop && *c->f->stop) || waited >= limit)
			return 0;
		if (poll(&p, 1, 200) > 0)
			return 1;
		waited += 200;
	}
	return 1;
}

/* conn_serve - one client connection, until it ends */
void
conn_serve(struct front *f, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	socklen_t len = sizeof(c->peer);
	char	 line[LINE_MAX_LEN];
	int	 rc;

	if (c == NULL || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer,
	    &len) < 0) {
		free(c);
		close(fd);
		return;
	}
	c->f = f;
	c->fd = fd;
	while (!c->closing && wait_command(c) &&
	    (rc = read_line(c, line, f->conf->daemon.io_timeout)) > 0) {
		if (strcmp(line, "SIGN") == 0)
			rc = request(c);
		else if (strcmp(line, "STATS") == 0)
			rc = stats(c);
		else if (strcmp(line, "QUIT") == 0)
			break;
		else {
			(void)reply_fail(c, REQ_PERM, "protocol error: expected "
			    "SIGN, STATS or QUIT");
			rc = -1;
		}
		if (rc < 0)
			break;
	}
	close(fd);
	free(c);
}

/* conn_refuse_busy - tell a client we are overloaded, and close */
void
conn_refuse_busy(int fd)
{
	static const char msg[] = "TEMPFAIL overloaded: all workers busy, "
	    "retry later\n";

	(void)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}
