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
 * may not use.  Message content is never logged.  A command, with all of
 * a request's lines and bytes, must be in within request-timeout however
 * the bytes trickle (io-timeout alone bounds each wait, not the whole);
 * STATS is answered to root, the front's own user and the configured
 * stats-allow-uids/gids only.
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

#include "p11dkim/log.h"
#include "front.h"
#include "signing.h"

#define LINE_MAX_LEN	1024
#define CHUNK_MAX	(1024 * 1024)
#define INBUF		(64 * 1024)

struct conn {
	struct front *f;
	int	 fd;
	struct ucred peer;
	char	 in[INBUF];
	size_t	 pos, len;		/* unread bytes: in[pos..len) */
	int	 closing;		/* replied to an error: close */
	unsigned commands;		/* read on this connection so far */
	struct timespec deadline;	/* of the command being read */
};

struct request {
	struct signing s;
	char	 domain[ADDR_DOMAIN_MAX + 1];	/* OPTION domain=, or "" */
};

/* start_clock - a command begins: all of it is due by request-timeout */
static void
start_clock(struct conn *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += c->f->conf->daemon.request_timeout;
}

/* left_ms - milliseconds until the deadline; 0 once it has passed */
static long long
left_ms(const struct conn *c)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(c->deadline.tv_sec - now.tv_sec) * 1000 +
	    (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

/* wait_io - poll for events: io-timeout at most, cut at the deadline */
static int
wait_io(const struct conn *c, short events)
{
	struct pollfd p = { c->fd, events, 0 };
	long long ms = left_ms(c), io = c->f->conf->daemon.io_timeout * 1000LL;
	int	 rc;

	do
		rc = poll(&p, 1, (int)(ms < io ? ms : io));
	while (rc < 0 && errno == EINTR);
	return rc > 0;
}

/*
 * fill - more bytes into the buffer; 1, 0 at EOF, -1 on error, time out
 * or past the deadline (checked at every read: bytes that trickle in
 * fast enough for io-timeout do not stretch a request past it)
 */
static int
fill(struct conn *c)
{
	ssize_t	 n;

	if (c->pos == c->len)
		c->pos = c->len = 0;
	for (;;) {		/* poll only when nothing is there yet */
		if (left_ms(c) == 0)
			return -1;
		n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len,
		    MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN && wait_io(c, POLLIN))
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n <= 0)
		return n == 0 ? 0 : -1;
	c->len += (size_t)n;
	return 1;
}

/* read_line - one command line without its LF (and CR); 1, 0 EOF, -1 */
static int
read_line(struct conn *c, char *line)
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
		if ((rc = fill(c)) <= 0)
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

/* write_all - the whole buffer, waits bounded as reads are; 0 or -1 */
static int
write_all(struct conn *c, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (!wait_io(c, POLLOUT))
				return -1;
			continue;
		}
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
	int	 n = snprintf(line, sizeof(line), "%s %s\n", kind == SIGNING_TEMP ?
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
	char	 buf[8192];
	int	 h = snprintf(buf, sizeof(buf), "OK %zu\n", n);

	if (n <= sizeof(buf) - (size_t)h) {	/* one send for both */
		memcpy(buf + h, data, n);
		return write_all(c, buf, (size_t)h + n);
	}
	return write_all(c, buf, (size_t)h) < 0 ? -1 : write_all(c, data, n);
}

/*
 * late - the deadline passed before the command was all in: say so (the
 * connection closes after it); the reason, or NULL when not late
 */
static const char *
late(struct conn *c, char *why, size_t len)
{
	if (c->closing || left_ms(c) > 0)
		return NULL;
	snprintf(why, len, "request not complete within request-timeout "
	    "(%u s); retry later", c->f->conf->daemon.request_timeout);
	(void)reply_fail(c, SIGNING_TEMP, why);
	c->closing = 1;
	return why;
}

/* peer_listed - is the peer's uid or gid in these lists? */
static int
peer_listed(const struct conn *c, const uid_t *uids, size_t nuids,
    const gid_t *gids, size_t ngids)
{
	for (size_t k = 0; k < nuids; k++)
		if (uids[k] == c->peer.uid)
			return 1;
	for (size_t k = 0; k < ngids; k++)
		if (gids[k] == c->peer.gid)
			return 1;
	return 0;
}

/* permitted - may the peer ask for this institution's signatures? */
static int
permitted(const struct conn *c, const struct conf_institution *i)
{
	return peer_listed(c, i->allow_uids, i->nallow_uids, i->allow_gids,
	    i->nallow_gids);
}

/*
 * choose - the institution for the message (OPTION domain=, else From),
 * authorized for the peer's uid or gid, with its signatures added
 */
static void
choose(struct conn *c, struct request *r)
{
	const struct keytab_entry *e;

	e = signing_pick(&r->s, r->domain[0] ? r->domain : NULL);
	if (e == NULL)
		return;
	if (!permitted(c, e->inst)) {
		log_warn("refused: uid %u gid %u may not sign for %s",
		    (unsigned)c->peer.uid, (unsigned)c->peer.gid,
		    e->inst->code);
		signing_fail(&r->s, SIGNING_PERM, "not authorized: uid %u may "
		    "not sign for %s", (unsigned)c->peer.uid, e->inst->code);
		return;
	}
	signing_add(&r->s);
}

/* feed - a piece of the message: headers, then (once chosen) body */
static void
feed(struct conn *c, struct request *r, const char *p, size_t n)
{
	size_t	 used = 0;

	if (r->s.fail)
		return;
	if (r->s.ctx == NULL || !dkim_sign_headers_complete(r->s.ctx)) {
		if (signing_headers(&r->s, p, n, &used))
			choose(c, r);
	}
	if (!r->s.fail && used < n)
		signing_body(&r->s, p + used, n - used);
}

/* read_data - n bytes of message, streamed through feed; 0 or -1 */
static int
read_data(struct conn *c, struct request *r, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (c->pos == c->len && fill(c) <= 0)
			return -1;
		k = c->len - c->pos < n ? c->len - c->pos : n;
		feed(c, r, c->in + c->pos, k);
		c->pos += k;
		n -= k;
	}
	return 0;
}

/* peer - "uid=N" for the log */
static const char *
peer(const struct conn *c, char *buf, size_t len)
{
	snprintf(buf, len, "uid=%u", (unsigned)c->peer.uid);
	return buf;
}

/* finish - END: sign, reply, log, count, free */
static int
finish(struct conn *c, struct request *r)
{
	const char *fields;
	size_t	 len = 0;
	char	 who[32];
	int	 rc;

	if (signing_headers_end(&r->s))
		choose(c, r);
	signing_client(&r->s, SIGNER_FRONT_NATIVE, peer(c, who, sizeof(who)));
	fields = signing_finish(&r->s, &len);
	rc = fields ? reply_ok(c, fields, len) : reply_fail(c, r->s.fail,
	    r->s.reason);
	signing_done(&r->s, peer(c, who, sizeof(who)));
	return rc;
}

/* option - "OPTION name=value" before the first DATA; a later one wins */
static int
option(struct conn *c, struct request *r, const char *arg)
{
	const char *v = arg + 7;
	size_t	 k;

	if (strncmp(arg, "domain=", 7) != 0 || r->s.ctx != NULL ||
	    strlen(v) >= sizeof(r->domain)) {
		c->closing = 1;
		return reply_fail(c, SIGNING_PERM, "bad OPTION (domain=D, before "
		    "DATA)") < 0 ? -1 : 1;
	}
	for (k = 0; v[k] != '\0'; k++)
		r->domain[k] = v[k] >= 'A' && v[k] <= 'Z' ?
		    (char)(v[k] - 'A' + 'a') : v[k];
	r->domain[k] = '\0';
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
	char	 line[LINE_MAX_LEN], who[32], why[128];
	size_t	 n;
	int	 rc;

	memset(&r, 0, sizeof(r));
	signing_begin(&r.s, c->f);
	for (;;) {
		rc = read_line(c, line);
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
			(void)reply_fail(c, SIGNING_PERM, "protocol error: expected "
			    "OPTION, DATA n (1 to 1048576) or END");
			break;
		}
	}
	if (rc == -2) {
		c->closing = 1;
		(void)reply_fail(c, SIGNING_PERM, "protocol error: line too long");
	}
	if (late(c, why, sizeof(why)) != NULL)
		signing_fail(&r.s, SIGNING_TEMP, "%s", why);
	if (c->closing)
		signing_fail(&r.s, SIGNING_PERM, "protocol error");
	signing_fail(&r.s, SIGNING_TEMP, "connection lost or timed out "
	    "mid-request");
	signing_done(&r.s, peer(c, who, sizeof(who)));
	return -1;
}

/*
 * stats - the counters, to root, the front's own user and the peers of
 * stats-allow-uids/gids: they show every institution's volumes
 */
static int
stats(struct conn *c)
{
	const struct conf_daemon *d = &c->f->conf->daemon;
	struct buf out;
	char	 why[96];
	int	 rc;

	if (c->peer.uid != 0 && c->peer.uid != geteuid() && !peer_listed(c,
	    d->stats_uids, d->nstats_uids, d->stats_gids, d->nstats_gids)) {
		log_warn("refused: uid %u gid %u may not read STATS",
		    (unsigned)c->peer.uid, (unsigned)c->peer.gid);
		snprintf(why, sizeof(why), "not authorized: uid %u may not read "
		    "STATS", (unsigned)c->peer.uid);
		return reply_fail(c, SIGNING_PERM, why);
	}
	buf_init(&out, stats_bound(c->f->conf));
	rc = stats_render(c->f->stats, c->f->keys, c->f->signer, &out) < 0 ? -1 :
	    reply_ok(c, buf_str(&out), out.len);
	buf_release(&out);
	return rc;
}

/*
 * wait_command - idle between requests: 1 when the client sends, 0 when
 * the idle time is up or the front is draining (no new requests then).
 * A connection accepted before the drain began has not sent its first
 * command yet only because it was just made: it is a request in flight,
 * given io-timeout to send it, not closed unanswered.
 */
static int
wait_command(struct conn *c)
{
	const struct conf_daemon *d = &c->f->conf->daemon;
	unsigned waited = 0, limit = d->idle_timeout * 1000;
	struct pollfd p = { c->fd, POLLIN, 0 };

	while (c->pos == c->len) {
		if (poll(&p, 1, 200) > 0)
			return 1;	/* a request already sent is served */
		waited += 200;
		if (c->f->stop && *c->f->stop && (c->commands > 0 ||
		    waited >= d->io_timeout * 1000))
			return 0;
		if (waited >= limit)
			return 0;
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
	int	 rc = 0;

	if (c == NULL || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer,
	    &len) < 0) {
		free(c);
		close(fd);
		return;
	}
	c->f = f;
	c->fd = fd;
	while (!c->closing && wait_command(c)) {
		start_clock(c);
		if ((rc = read_line(c, line)) <= 0)
			break;
		c->commands++;
		if (strcmp(line, "SIGN") == 0)
			rc = request(c);
		else if (strcmp(line, "STATS") == 0)
			rc = stats(c);
		else if (strcmp(line, "QUIT") == 0)
			break;
		else {
			(void)reply_fail(c, SIGNING_PERM, "protocol error: expected "
			    "SIGN, STATS or QUIT");
			rc = -1;
		}
		if (rc < 0)
			break;
	}
	if (rc == -2)
		(void)reply_fail(c, SIGNING_PERM, "protocol error: line too long");
	else if (rc < 0)
		(void)late(c, line, sizeof(line));
	close(fd);
	free(c);
}

/* conn_refuse - "TEMPFAIL why" at once, without waiting, and close */
void
conn_refuse(int fd, const char *why)
{
	char	 msg[256];
	int	 n = snprintf(msg, sizeof(msg), "TEMPFAIL %s\n", why);

	if (n > 0 && (size_t)n < sizeof(msg))
		(void)send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}
