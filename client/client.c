/*
 * client.c - the p11dkim protocol, client side (include/p11dkim/client.h).
 *
 * One blocking Unix stream socket per client.  Timeouts are SO_SNDTIMEO
 * and SO_RCVTIMEO: each send or receive that makes no progress for that
 * long fails with EAGAIN; on Linux SO_SNDTIMEO also bounds connect() to a
 * Unix socket whose listen queue is full.
 *
 * Security notes: the daemon's replies are input like any other.  A
 * reply line is bounded (REPLY_LINE_MAX), an OK length is checked against
 * its maximum before anything is allocated, and the signature must be
 * well-formed header fields (fields_valid), so that a faulty daemon
 * cannot end the message's header section early or append a body.
 * Reasons lose their control characters before anyone logs them.  Any
 * reply that is not exactly what the protocol allows closes the
 * connection: the client can no longer tell where the next reply starts.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "p11dkim/client.h"

#define REPLY_LINE_MAX		2048	/* status line, with its LF */
#define DOMAIN_MAX		253	/* RFC 1035 section 2.3.4 */
#define CONNECT_MS_DEFAULT	10000u
#define IO_MS_DEFAULT		60000u
#define TIMEOUT_MS_MAX		86400000u
#define SUN_PATH_MAX		sizeof(((struct sockaddr_un *)NULL)->sun_path)

enum client_state {
	CLIENT_IDLE = 0,	/* between requests */
	CLIENT_SENDING,		/* inside SIGN ... END */
	CLIENT_DECIDED		/* request over early; end() gives the verdict */
};

struct p11dkim_client {
	char	 path[SUN_PATH_MAX];
	int	 fd;		/* -1 when not connected */
	int	 reused;	/* fd has carried a request already */
	unsigned int connect_ms;
	unsigned int io_ms;
	enum client_state state;
	int	 from_daemon;	/* reason is the daemon's text */
	char	 reason[P11DKIM_CLIENT_REASON_MAX];	/* of the last call */
	struct p11dkim_client_result verdict;	/* when CLIENT_DECIDED */
	char	*out;		/* P11DKIM_CLIENT_CHUNK bytes to send */
	size_t	 out_len;
	char	 in[REPLY_LINE_MAX];	/* received, not yet consumed */
	size_t	 in_len;
};

/* text_sanitize - replace control characters, so text stays one line */
static void
text_sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* client_fail - record a reason of ours; returns st for tail calls */
static enum p11dkim_client_status
client_fail(struct p11dkim_client *c, enum p11dkim_client_status st,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum p11dkim_client_status
client_fail(struct p11dkim_client *c, enum p11dkim_client_status st,
    const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(c->reason, sizeof(c->reason), "%s: (no reason)",
		    c->path);
	text_sanitize(c->reason);
	c->from_daemon = 0;
	return st;
}

/* client_disconnect - close the connection, forget unread input */
static void
client_disconnect(struct p11dkim_client *c)
{
	if (c->fd != -1)
		(void)close(c->fd);
	c->fd = -1;
	c->reused = 0;
	c->in_len = 0;
}

/* client_fail_io - a socket error: TEMPFAIL naming the path; disconnects */
static enum p11dkim_client_status
client_fail_io(struct p11dkim_client *c, const char *what, int err)
{
	client_disconnect(c);
	if (err == EAGAIN || err == EWOULDBLOCK)
		return client_fail(c, P11DKIM_CLIENT_TEMPFAIL,
		    "%s %s: timed out after %u ms", what, c->path, c->io_ms);
	return client_fail(c, P11DKIM_CLIENT_TEMPFAIL, "%s %s: %s", what,
	    c->path, strerror(err));
}

/* client_fail_reply - a reply out of protocol: TEMPFAIL; disconnects */
static enum p11dkim_client_status
client_fail_reply(struct p11dkim_client *c, const char *what,
    const char *line)
{
	client_disconnect(c);
	if (line == NULL)
		return client_fail(c, P11DKIM_CLIENT_TEMPFAIL,
		    "reply from %s: %s", c->path, what);
	return client_fail(c, P11DKIM_CLIENT_TEMPFAIL,
	    "reply from %s: %s: \"%.60s\"", c->path, what, line);
}

/* client_decide - the open request ends now with st (end() returns it) */
static enum p11dkim_client_status
client_decide(struct p11dkim_client *c, enum p11dkim_client_status st)
{
	/* Part of a request may be on the wire: the stream is out of step. */
	client_disconnect(c);
	c->state = CLIENT_DECIDED;
	c->verdict.status = st;
	c->verdict.from_daemon = c->from_daemon;
	memcpy(c->verdict.reason, c->reason, sizeof(c->verdict.reason));
	return st;
}

/* p11dkim_client_default_socket - $P11DKIM_SOCKET, or the default path */
const char *
p11dkim_client_default_socket(void)
{
	const char *env = secure_getenv(P11DKIM_CLIENT_SOCKET_ENV);

	return env != NULL && *env != '\0' ? env :
	    P11DKIM_CLIENT_DEFAULT_SOCKET;
}

/* p11dkim_client_new - a client for path, not yet connected */
struct p11dkim_client *
p11dkim_client_new(const char *path)
{
	struct p11dkim_client *c;
	size_t	 len;

	if (path == NULL)
		path = p11dkim_client_default_socket();
	len = strlen(path);
	if (len == 0 || len >= SUN_PATH_MAX) {
		errno = len == 0 ? EINVAL : ENAMETOOLONG;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->out = malloc(P11DKIM_CLIENT_CHUNK)) == NULL) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	memcpy(c->path, path, len + 1);
	c->fd = -1;
	c->connect_ms = CONNECT_MS_DEFAULT;
	c->io_ms = IO_MS_DEFAULT;
	return c;
}

/* socket_set_timeout - SO_SNDTIMEO or SO_RCVTIMEO in milliseconds */
static int
socket_set_timeout(int fd, int option, unsigned int ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

/* p11dkim_client_set_timeouts - connect and I/O timeouts, milliseconds */
enum p11dkim_client_status
p11dkim_client_set_timeouts(struct p11dkim_client *c, unsigned int connect_ms,
    unsigned int io_ms)
{
	if (c == NULL)
		return P11DKIM_CLIENT_USAGE;
	if (connect_ms == 0 || connect_ms > TIMEOUT_MS_MAX ||
	    io_ms == 0 || io_ms > TIMEOUT_MS_MAX)
		return client_fail(c, P11DKIM_CLIENT_USAGE,
		    "timeouts must be 1 to %u ms", TIMEOUT_MS_MAX);
	c->connect_ms = connect_ms;
	c->io_ms = io_ms;
	if (c->fd != -1 && (socket_set_timeout(c->fd, SO_SNDTIMEO, io_ms) ==
	    -1 || socket_set_timeout(c->fd, SO_RCVTIMEO, io_ms) == -1))
		return client_fail_io(c, "set timeouts on", errno);
	return P11DKIM_CLIENT_OK;
}

/* client_dial - a connected socket, or -1 with errno (EAGAIN: timeout) */
static int
client_dial(const struct p11dkim_client *c)
{
	struct sockaddr_un sun;
	int	 fd, rc, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, c->path, strlen(c->path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (socket_set_timeout(fd, SO_SNDTIMEO, c->connect_ms) == -1)
		goto fail;
	do
		rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	while (rc == -1 && errno == EINTR);
	if (rc == -1 && errno != EISCONN)
		goto fail;
	if (socket_set_timeout(fd, SO_SNDTIMEO, c->io_ms) == -1 ||
	    socket_set_timeout(fd, SO_RCVTIMEO, c->io_ms) == -1)
		goto fail;
	return fd;
fail:
	saved = errno;
	(void)close(fd);
	errno = saved;
	return -1;
}

/* p11dkim_client_connect - connect now, unless connected already */
enum p11dkim_client_status
p11dkim_client_connect(struct p11dkim_client *c)
{
	int	 err;

	if (c == NULL)
		return P11DKIM_CLIENT_USAGE;
	c->reason[0] = '\0';
	if (c->fd != -1)
		return P11DKIM_CLIENT_OK;
	if ((c->fd = client_dial(c)) != -1) {
		c->reused = 0;
		c->in_len = 0;
		return P11DKIM_CLIENT_OK;
	}
	err = errno;
	if (err == EAGAIN || err == EWOULDBLOCK)
		return client_fail(c, P11DKIM_CLIENT_TEMPFAIL,
		    "connect to %s: timed out after %u ms (p11dkimd "
		    "overloaded?)", c->path, c->connect_ms);
	return client_fail(c, P11DKIM_CLIENT_TEMPFAIL, "connect to %s: %s%s",
	    c->path, strerror(err), err == ENOENT || err == ECONNREFUSED ?
	    " (is p11dkimd running?)" : "");
}

/* client_peer_gone - 1 when an idle connection was closed or is out of step */
static int
client_peer_gone(const struct p11dkim_client *c)
{
	struct pollfd pfd;

	if (c->in_len > 0)
		return 1;	/* bytes nobody asked for */
	pfd.fd = c->fd;
	pfd.events = POLLIN | POLLRDHUP;
	pfd.revents = 0;
	/* Readable while idle means EOF, an error or an unasked reply. */
	return poll(&pfd, 1, 0) != 0;
}

/* iov_advance - drop n sent bytes from the front of an iovec array */
static void
iov_advance(struct iovec **iov, int *count, size_t n)
{
	while (*count > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*count)--;
	}
	if (*count > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/* client_sendv - send all of iov; 0, or -1 with errno */
static int
client_sendv(struct p11dkim_client *c, struct iovec *iov, int count)
{
	struct msghdr msg;
	ssize_t	 n;

	iov_advance(&iov, &count, 0);	/* skip empty entries */
	while (count > 0) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)count;
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		iov_advance(&iov, &count, (size_t)n);
	}
	return 0;
}

/* client_fill - receive more input: 1 some, 0 EOF, -1 error (errno) */
static int
client_fill(struct p11dkim_client *c)
{
	ssize_t	 n;

	do
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
		    0);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		c->in_len += (size_t)n;
	return n > 0 ? 1 : (int)n;
}

/* client_consume - drop n bytes from the front of the input */
static void
client_consume(struct p11dkim_client *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* client_read_line - the next reply line without its (CR)LF, into line */
static enum p11dkim_client_status
client_read_line(struct p11dkim_client *c, char line[REPLY_LINE_MAX])
{
	char	*lf;
	size_t	 len;
	int	 rc;

	while ((lf = memchr(c->in, '\n', c->in_len)) == NULL) {
		if (c->in_len == sizeof(c->in))
			return client_fail_reply(c, "status line too long",
			    NULL);
		if ((rc = client_fill(c)) == 0)
			return client_fail_reply(c, "connection closed "
			    "before the reply", NULL);
		if (rc == -1)
			return client_fail_io(c, "receive from", errno);
	}
	len = (size_t)(lf - c->in);
	memcpy(line, c->in, len);
	if (len > 0 && line[len - 1] == '\r')
		len--;		/* PROTOCOL.md: a CR before LF is ignored */
	line[len] = '\0';
	client_consume(c, (size_t)(lf - c->in) + 1);
	if (memchr(line, '\0', len) != NULL)
		return client_fail_reply(c, "NUL in status line", NULL);
	return P11DKIM_CLIENT_OK;
}

/* client_read_payload - exactly n bytes after an OK line, NUL-terminated */
static enum p11dkim_client_status
client_read_payload(struct p11dkim_client *c, size_t n, char **out)
{
	char	*p;
	size_t	 got;
	ssize_t	 r;

	if ((p = malloc(n + 1)) == NULL) {
		client_disconnect(c);	/* the payload stays unread */
		return client_fail(c, P11DKIM_CLIENT_TEMPFAIL,
		    "reply from %s: out of memory for %zu bytes", c->path, n);
	}
	got = c->in_len < n ? c->in_len : n;
	memcpy(p, c->in, got);
	client_consume(c, got);
	while (got < n) {
		r = recv(c->fd, p + got, n - got, 0);
		if (r > 0)
			got += (size_t)r;
		else if (r == -1 && errno == EINTR)
			continue;
		else {
			free(p);
			return r == 0 ? client_fail_reply(c, "connection "
			    "closed inside the reply", NULL) :
			    client_fail_io(c, "receive from", errno);
		}
	}
	p[n] = '\0';
	*out = p;
	return P11DKIM_CLIENT_OK;
}

/* parse_length - the n of "OK n": decimal, no sign, min..max; 0 or -1 */
static int
parse_length(const char *s, size_t min, size_t max, size_t *n)
{
	size_t	 v = 0;
	const char *p;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 10)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (size_t)(*p - '0');
	}
	if (v < min || v > max)
		return -1;
	*n = v;
	return 0;
}

/* client_daemon_says - record the daemon's reason text; returns st */
static enum p11dkim_client_status
client_daemon_says(struct p11dkim_client *c, enum p11dkim_client_status st,
    const char *text)
{
	if (*text == ' ')
		text++;
	snprintf(c->reason, sizeof(c->reason), "%s",
	    *text != '\0' ? text : "(no reason given)");
	text_sanitize(c->reason);
	c->from_daemon = 1;
	return st;
}

/* word_is - line starts with word, followed by a space or its end */
static int
word_is(const char *line, const char *word)
{
	size_t	 n = strlen(word);

	return strncmp(line, word, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ');
}

/*
 * client_parse_reply - PROTOCOL.md "Replies": "OK n" sets *n (min..max);
 * "TEMPFAIL reason" and "PERMFAIL reason" record the reason.
 */
static enum p11dkim_client_status
client_parse_reply(struct p11dkim_client *c, const char *line, size_t min,
    size_t max, size_t *n)
{
	if (strncmp(line, "OK ", 3) == 0) {
		if (parse_length(line + 3, min, max, n) == -1)
			return client_fail_reply(c, "bad OK length", line);
		c->reason[0] = '\0';
		return P11DKIM_CLIENT_OK;
	}
	if (word_is(line, "TEMPFAIL"))
		return client_daemon_says(c, P11DKIM_CLIENT_TEMPFAIL,
		    line + 8);
	if (word_is(line, "PERMFAIL"))
		return client_daemon_says(c, P11DKIM_CLIENT_PERMFAIL,
		    line + 8);
	return client_fail_reply(c, "unknown status line", line);
}

/* field_line_ok - a header line: "name:" or folded (starts with WSP) */
static int
field_line_ok(const char *p, size_t len, int first)
{
	size_t	 i;

	if (p[0] == ' ' || p[0] == '\t') {
		if (first)
			return 0;
		for (i = 0; i < len; i++)
			if (p[i] != ' ' && p[i] != '\t')
				return 1;
		return 0;	/* whitespace only: could end the header */
	}
	/* RFC 5322 section 2.2: ftext is printable US-ASCII but ':'. */
	for (i = 0; i < len && p[i] != ':'; i++)
		if (p[i] < 33 || p[i] > 126)
			return 0;
	return i > 0 && i < len;
}

/*
 * fields_valid - 1 when data is one or more header fields, every line
 * ending in CRLF, no other CR, LF or NUL, no empty line (RFC 5322
 * sections 2.1 and 2.2): prepended to a message, it stays in the header.
 */
static int
fields_valid(const char *data, size_t len)
{
	size_t	 start = 0, i;

	if (len < 2)
		return 0;
	while (start < len) {
		for (i = start; i < len && data[i] != '\r'; i++)
			if (data[i] == '\n' || data[i] == '\0')
				return 0;
		if (i + 1 >= len || data[i + 1] != '\n' ||
		    !field_line_ok(data + start, i - start, start == 0))
			return 0;
		start = i + 2;
	}
	return 1;
}

/*
 * client_reply_left - a send failed with EPIPE or ECONNRESET: the daemon
 * closed the connection, maybe after a reply (a refusal of the framing,
 * or "TEMPFAIL overloaded" to a connection it cannot serve) that is
 * still there to read.  1 with its verdict in *st, 0 when there is none.
 */
static int
client_reply_left(struct p11dkim_client *c, enum p11dkim_client_status *st)
{
	char	 line[REPLY_LINE_MAX];
	size_t	 n;

	if (client_read_line(c, line) != P11DKIM_CLIENT_OK)
		return 0;
	*st = client_parse_reply(c, line, 0, 0, &n);
	client_disconnect(c);
	if (*st == P11DKIM_CLIENT_OK)
		*st = client_fail(c, P11DKIM_CLIENT_TEMPFAIL, "reply from "
		    "%s: OK before the end of the request", c->path);
	return 1;
}

/* client_early_verdict - the reply left by a daemon that closed, or why not */
static enum p11dkim_client_status
client_early_verdict(struct p11dkim_client *c)
{
	enum p11dkim_client_status st;

	if (client_reply_left(c, &st))
		return st;
	return client_fail(c, P11DKIM_CLIENT_TEMPFAIL, "send to %s: "
	    "connection closed by p11dkimd without a reply", c->path);
}

/* client_send_command - send a command line; one retry on a stale link */
static enum p11dkim_client_status
client_send_command(struct p11dkim_client *c, const char *cmd, size_t len)
{
	struct iovec iov;
	enum p11dkim_client_status st;
	int	 attempt, err;

	for (attempt = 0; attempt < 2; attempt++) {
		/* Unasked bytes on a fresh connection are a refusal: read
		 * them as the reply (client_reply_left). */
		if (c->fd != -1 && c->reused && client_peer_gone(c))
			client_disconnect(c);
		if ((st = p11dkim_client_connect(c)) != P11DKIM_CLIENT_OK)
			return st;
		iov.iov_base = (void *)(uintptr_t)cmd;
		iov.iov_len = len;
		if (client_sendv(c, &iov, 1) == 0) {
			c->reused = 1;
			return P11DKIM_CLIENT_OK;
		}
		if ((err = errno) != EPIPE && err != ECONNRESET)
			return client_fail_io(c, "send to", err);
		if (client_reply_left(c, &st))
			return st;
		/* Closed without a word (idle timeout): connect again. */
		client_disconnect(c);
	}
	return client_fail(c, P11DKIM_CLIENT_TEMPFAIL, "send to %s: "
	    "connection closed by p11dkimd without a reply", c->path);
}

/* client_send_frame - "DATA n" and n bytes (none: no frame), then "END" */
static enum p11dkim_client_status
client_send_frame(struct p11dkim_client *c, const void *data, size_t n,
    int end)
{
	static const char end_line[] = "END\n";
	char	 head[32];
	struct iovec iov[3];
	int	 len;

	len = snprintf(head, sizeof(head), "DATA %zu\n", n);
	if (len < 0 || (size_t)len >= sizeof(head))
		return client_fail(c, P11DKIM_CLIENT_TEMPFAIL, "frame header");
	iov[0].iov_base = head;
	iov[0].iov_len = n > 0 ? (size_t)len : 0;
	iov[1].iov_base = (void *)(uintptr_t)data;
	iov[1].iov_len = n;
	iov[2].iov_base = (void *)(uintptr_t)end_line;
	iov[2].iov_len = end ? sizeof(end_line) - 1 : 0;
	if (client_sendv(c, iov, 3) == 0)
		return P11DKIM_CLIENT_OK;
	if (errno == EPIPE || errno == ECONNRESET)
		return client_early_verdict(c);
	return client_fail_io(c, "send to", errno);
}

/* client_flush - send the buffered bytes as one frame (and END) */
static enum p11dkim_client_status
client_flush(struct p11dkim_client *c, int end)
{
	size_t	 n = c->out_len;

	c->out_len = 0;
	return client_send_frame(c, c->out, n, end);
}

/* domain_valid - an ASCII domain name: letters, digits, '-', '_', '.' */
static int
domain_valid(const char *d)
{
	size_t	 i, len = strlen(d);

	if (len == 0 || len > DOMAIN_MAX || d[0] == '.' || d[0] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!((d[i] >= 'a' && d[i] <= 'z') ||
		    (d[i] >= 'A' && d[i] <= 'Z') ||
		    (d[i] >= '0' && d[i] <= '9') ||
		    d[i] == '-' || d[i] == '_' || d[i] == '.'))
			return 0;
	return strstr(d, "..") == NULL;
}

/* p11dkim_client_begin - start a request: SIGN (and OPTION domain=) */
enum p11dkim_client_status
p11dkim_client_begin(struct p11dkim_client *c, const char *domain)
{
	char	 cmd[64 + DOMAIN_MAX];
	enum p11dkim_client_status st;
	int	 n;

	if (c == NULL)
		return P11DKIM_CLIENT_USAGE;
	if (c->state != CLIENT_IDLE)
		return client_fail(c, P11DKIM_CLIENT_USAGE,
		    "begin: a request is open already (call end first)");
	c->state = CLIENT_SENDING;
	c->out_len = 0;
	if (domain != NULL && !domain_valid(domain))
		return client_decide(c, client_fail(c, P11DKIM_CLIENT_USAGE,
		    "domain \"%.80s\": not an ASCII domain name", domain));
	n = domain == NULL ? snprintf(cmd, sizeof(cmd), "SIGN\n") :
	    snprintf(cmd, sizeof(cmd), "SIGN\nOPTION domain=%s\n", domain);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return client_decide(c, client_fail(c, P11DKIM_CLIENT_USAGE,
		    "domain too long"));
	if ((st = client_send_command(c, cmd, (size_t)n)) != P11DKIM_CLIENT_OK)
		return client_decide(c, st);
	return P11DKIM_CLIENT_OK;
}

/* p11dkim_client_write - buffer small writes, send large ones directly */
enum p11dkim_client_status
p11dkim_client_write(struct p11dkim_client *c, const void *data, size_t len)
{
	const char *p = data;
	enum p11dkim_client_status st = P11DKIM_CLIENT_OK;
	size_t	 n;

	if (c == NULL)
		return P11DKIM_CLIENT_USAGE;
	if (c->state == CLIENT_DECIDED)
		return c->verdict.status;
	if (c->state != CLIENT_SENDING)
		return client_fail(c, P11DKIM_CLIENT_USAGE,
		    "write: no request open (call begin first)");
	if (p == NULL && len > 0)
		return client_decide(c, client_fail(c, P11DKIM_CLIENT_USAGE,
		    "write: NULL data"));
	for (; len > 0 && st == P11DKIM_CLIENT_OK; p += n, len -= n) {
		if (c->out_len == 0 && len >= P11DKIM_CLIENT_CHUNK) {
			n = len < P11DKIM_CLIENT_FRAME_MAX ? len :
			    P11DKIM_CLIENT_FRAME_MAX;
			st = client_send_frame(c, p, n, 0);
			continue;
		}
		n = P11DKIM_CLIENT_CHUNK - c->out_len;
		n = len < n ? len : n;
		memcpy(c->out + c->out_len, p, n);
		c->out_len += n;
		if (c->out_len == P11DKIM_CLIENT_CHUNK)
			st = client_flush(c, 0);
	}
	return st == P11DKIM_CLIENT_OK ? st : client_decide(c, st);
}

/* result_fill - status st with the last call's reason into a result */
static enum p11dkim_client_status
result_fill(const struct p11dkim_client *c, struct p11dkim_client_result *r,
    enum p11dkim_client_status st)
{
	r->status = st;
	r->from_daemon = st == P11DKIM_CLIENT_OK ? 0 : c->from_daemon;
	snprintf(r->reason, sizeof(r->reason), "%s",
	    st == P11DKIM_CLIENT_OK ? "" : c->reason);
	return st;
}

/* result_decided - the verdict of a request that ended early */
static enum p11dkim_client_status
result_decided(struct p11dkim_client *c, struct p11dkim_client_result *r)
{
	*r = c->verdict;
	c->state = CLIENT_IDLE;
	return r->status;
}

/* client_read_signature - the reply to SIGN ... END */
static enum p11dkim_client_status
client_read_signature(struct p11dkim_client *c,
    struct p11dkim_client_result *r)
{
	char	 line[REPLY_LINE_MAX];
	enum p11dkim_client_status st;
	size_t	 n = 0;

	if ((st = client_read_line(c, line)) != P11DKIM_CLIENT_OK ||
	    (st = client_parse_reply(c, line, 1, P11DKIM_CLIENT_FIELDS_MAX,
	    &n)) != P11DKIM_CLIENT_OK ||
	    (st = client_read_payload(c, n, &r->fields)) != P11DKIM_CLIENT_OK)
		return st;
	if (!fields_valid(r->fields, n)) {
		free(r->fields);
		r->fields = NULL;
		return client_fail_reply(c, "the signature is not "
		    "well-formed header fields", NULL);
	}
	r->fields_len = n;
	return P11DKIM_CLIENT_OK;
}

/* p11dkim_client_end - END, then the verdict into result */
enum p11dkim_client_status
p11dkim_client_end(struct p11dkim_client *c, struct p11dkim_client_result *r)
{
	enum p11dkim_client_status st;

	if (r == NULL)
		return c == NULL ? P11DKIM_CLIENT_USAGE : client_fail(c,
		    P11DKIM_CLIENT_USAGE, "end: NULL result");
	memset(r, 0, sizeof(*r));
	if (c == NULL) {
		r->status = P11DKIM_CLIENT_USAGE;
		snprintf(r->reason, sizeof(r->reason), "end: NULL client");
		return r->status;
	}
	if (c->state == CLIENT_IDLE)
		return result_fill(c, r, client_fail(c, P11DKIM_CLIENT_USAGE,
		    "end: no request open (call begin first)"));
	if (c->state == CLIENT_DECIDED)
		return result_decided(c, r);
	c->state = CLIENT_IDLE;
	if ((st = client_flush(c, 1)) == P11DKIM_CLIENT_OK)
		st = client_read_signature(c, r);
	return result_fill(c, r, st);
}

/* p11dkim_client_stats - STATS: the daemon's counters as text */
enum p11dkim_client_status
p11dkim_client_stats(struct p11dkim_client *c, char **text)
{
	static const char cmd[] = "STATS\n";
	char	 line[REPLY_LINE_MAX];
	enum p11dkim_client_status st;
	size_t	 n = 0;

	if (text != NULL)
		*text = NULL;
	if (c == NULL)
		return P11DKIM_CLIENT_USAGE;
	if (text == NULL || c->state != CLIENT_IDLE)
		return client_fail(c, P11DKIM_CLIENT_USAGE, "stats: %s",
		    text == NULL ? "NULL text" : "a request is open");
	if ((st = client_send_command(c, cmd, sizeof(cmd) - 1)) !=
	    P11DKIM_CLIENT_OK ||
	    (st = client_read_line(c, line)) != P11DKIM_CLIENT_OK ||
	    (st = client_parse_reply(c, line, 0, P11DKIM_CLIENT_STATS_MAX,
	    &n)) != P11DKIM_CLIENT_OK)
		return st;
	return client_read_payload(c, n, text);
}

/* p11dkim_client_reason - why the last call failed */
const char *
p11dkim_client_reason(const struct p11dkim_client *c)
{
	return c == NULL ? "NULL client" : c->reason;
}

/*
 * p11dkim_client_not_authorized - the daemon's PERMFAIL for a peer that
 * may not sign for the domain: its reason starts with "not authorized"
 * (PROTOCOL.md "Who may ask").
 */
int
p11dkim_client_not_authorized(const struct p11dkim_client_result *r)
{
	static const char prefix[] = "not authorized";
	const size_t n = sizeof(prefix) - 1;
	char	 next;

	if (r == NULL || r->status != P11DKIM_CLIENT_PERMFAIL ||
	    !r->from_daemon || strncasecmp(r->reason, prefix, n) != 0)
		return 0;
	next = r->reason[n];
	return !((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z')
	    || (next >= '0' && next <= '9') || next == '_');
}

/* p11dkim_client_status_name - the status as the protocol spells it */
const char *
p11dkim_client_status_name(enum p11dkim_client_status st)
{
	switch (st) {
	case P11DKIM_CLIENT_OK:
		return "OK";
	case P11DKIM_CLIENT_TEMPFAIL:
		return "TEMPFAIL";
	case P11DKIM_CLIENT_PERMFAIL:
		return "PERMFAIL";
	case P11DKIM_CLIENT_USAGE:
		return "USAGE";
	}
	return "unknown";
}

/* p11dkim_client_result_release - free the fields */
void
p11dkim_client_result_release(struct p11dkim_client_result *r)
{
	if (r == NULL)
		return;
	free(r->fields);
	r->fields = NULL;
	r->fields_len = 0;
}

/* p11dkim_client_free - QUIT when idle, close, free; returns NULL */
struct p11dkim_client *
p11dkim_client_free(struct p11dkim_client *c)
{
	static const char quit[] = "QUIT\n";

	if (c == NULL)
		return NULL;
	if (c->fd != -1 && c->state == CLIENT_IDLE)
		(void)send(c->fd, quit, sizeof(quit) - 1,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	client_disconnect(c);
	free(c->out);
	free(c);
	return NULL;
}
