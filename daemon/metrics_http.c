/*
 * metrics_http.c - the metrics listener (metrics-listen): GET /metrics
 * answered with the Prometheus text exposition format 0.0.4, by the
 * native front, in threads of its own.
 *
 * Why the native front: it already renders the counters (its own, and
 * the signer's figures over its link) and runs unprivileged inside its
 * filter; the milter front's counters are in memory the parent shared
 * with both fronts before it started them.  So no process gains a
 * privilege, a descriptor or a way to the signer it did not have, and
 * one scrape shows both fronts.
 *
 * Security: the listener is TCP, loopback unless metrics-allow-remote
 * (conf.c).  A client cannot hold what signs: the listener has its own
 * accepting thread and at most HTTP_CONN_MAX connections, each with one
 * deadline for its request and one for the reply; a request larger than
 * HTTP_REQUEST_MAX is refused (431), a connection beyond the limit gets
 * 503 at once.  Only the request line is read; headers are skipped.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p11dkim/clock.h"
#include "p11dkim/log.h"
#include "p11dkim/signer_ipc.h"
#include "front.h"

#define HTTP_CONN_MAX		4	/* scrapes served at once */
#define HTTP_REQUEST_MAX	4096	/* request line and headers */
#define HTTP_TIMEOUT_MS		5000	/* to send the request; the reply */
#define HTTP_STACK		(256 * 1024)
#define TICK_MS			200

struct http {
	struct front *f;
	struct stats *fronts[2];
	size_t	 n;
	int	 fd;
	pthread_mutex_t mu;
	unsigned active;
};

struct http_conn {
	struct http *h;
	int	 fd;
};

struct reply {
	int	 status;
	const char *reason;
	const char *type;		/* Content-Type */
	const char *extra;		/* more header lines, or "" */
};

static const char text_plain[] = "text/plain; charset=utf-8";

/* wait_fd - fd ready for events before the deadline? 1, or 0 */
static int
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { fd, events, 0 };
	long long left;

	while ((left = deadline - (long long)(clock_mono_ns() / 1000000)) > 0) {
		if (poll(&p, 1, (int)left) > 0)
			return 1;
		if (errno != EINTR)
			break;
	}
	return 0;
}

/* headers_end - has the request its blank line yet? */
static int
headers_end(const char *req)
{
	return strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL;
}

/*
 * read_request - the request up to its blank line into req (NUL-ended):
 * 0; or the status to answer (408: too slow, 431: too large); -1 when
 * the client went away
 */
static int
read_request(int fd, char *req, size_t max)
{
	long long deadline = (long long)(clock_mono_ns() / 1000000) +
	    HTTP_TIMEOUT_MS;
	size_t	 len = 0;
	ssize_t	 r;

	req[0] = '\0';
	while (!headers_end(req)) {
		if (len == max)
			return 431;
		if (!wait_fd(fd, POLLIN, deadline))
			return 408;
		if ((r = read(fd, req + len, max - len)) < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			return -1;
		/* A NUL in the request ends what is looked at. */
		len += (size_t)r;
		req[len] = '\0';
	}
	return 0;
}

/* write_all - len bytes before the deadline; 0, or -1 */
static int
write_all(int fd, const char *p, size_t len, long long deadline)
{
	ssize_t	 w;

	while (len > 0) {
		if (!wait_fd(fd, POLLOUT, deadline))
			return -1;
		if ((w = write(fd, p, len)) < 0 && errno == EAGAIN)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* respond - the status line, headers and (unless head) the body */
static void
respond(int fd, const struct reply *r, const char *body, size_t len,
    int head)
{
	long long deadline = (long long)(clock_mono_ns() / 1000000) +
	    HTTP_TIMEOUT_MS;
	char	 hdr[512];
	int	 n;

	n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", r->status,
	    r->reason, r->type, len, r->extra);
	if (n < 0 || (size_t)n >= sizeof(hdr) ||
	    write_all(fd, hdr, (size_t)n, deadline) < 0 || head)
		return;
	(void)write_all(fd, body, len, deadline);
}

/* respond_text - a short text answer */
static void
respond_text(int fd, int status, const char *reason, const char *extra,
    const char *body, int head)
{
	struct reply r = { status, reason, text_plain, extra };

	respond(fd, &r, body, strlen(body), head);
}

/* serve_metrics - the exposition text, or 500 when it cannot be made */
static void
serve_metrics(struct http *h, int fd, int head)
{
	struct reply r = { 200, "OK", "text/plain; version=0.0.4; "
	    "charset=utf-8", "" };
	struct buf out;

	buf_init(&out, stats_bound(h->f->conf));
	if (stats_render_scrape(h->fronts, h->n, h->f->keys, h->f->signer,
	    &out) == 0)
		respond(fd, &r, buf_str(&out), out.len, head);
	else {
		log_warn("metrics: cannot render the counters: %s",
		    strerror(errno));
		respond_text(fd, 500, "Internal Server Error", "", "the "
		    "counters could not be rendered\n", head);
	}
	buf_release(&out);
}

/*
 * route - "METHOD TARGET HTTP/x.y": GET (or HEAD) of /metrics, / and
 * /-/healthy; 405 for another method, 404 for another path
 */
static void
route(struct http *h, int fd, char *req)
{
	char	*save = NULL, *method, *target, *version;
	int	 head;

	req[strcspn(req, "\r\n")] = '\0';	/* the request line */
	method = strtok_r(req, " ", &save);
	target = method ? strtok_r(NULL, " ", &save) : NULL;
	version = target ? strtok_r(NULL, " ", &save) : NULL;
	if (version == NULL || strncmp(version, "HTTP/1.", 7) != 0 ||
	    strtok_r(NULL, " ", &save) != NULL || target[0] != '/') {
		respond_text(fd, 400, "Bad Request", "", "bad request line\n", 0);
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	target[strcspn(target, "?")] = '\0';	/* no query is used */
	if (!head && strcmp(method, "GET") != 0)
		respond_text(fd, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
		    "only GET and HEAD\n", 0);
	else if (strcmp(target, "/metrics") == 0)
		serve_metrics(h, fd, head);
	else if (strcmp(target, "/-/healthy") == 0)
		respond_text(fd, 200, "OK", "", "OK\n", head);
	else if (strcmp(target, "/") == 0)
		respond_text(fd, 200, "OK", "", "p11dkimd: the counters are at "
		    "/metrics\n", head);
	else
		respond_text(fd, 404, "Not Found", "", "not found; the counters "
		    "are at /metrics\n", head);
}

/* http_serve - one connection's thread */
static void *
http_serve(void *arg)
{
	struct http_conn *c = arg;
	char	 req[HTTP_REQUEST_MAX + 1];
	int	 rc = read_request(c->fd, req, HTTP_REQUEST_MAX);

	if (rc == 0)
		route(c->h, c->fd, req);
	else if (rc == 408)
		respond_text(c->fd, 408, "Request Timeout", "", "request not "
		    "received in time\n", 0);
	else if (rc == 431)
		respond_text(c->fd, 431, "Request Header Fields Too Large", "",
		    "request larger than 4096 bytes\n", 0);
	close(c->fd);
	pthread_mutex_lock(&c->h->mu);
	c->h->active--;
	pthread_mutex_unlock(&c->h->mu);
	free(c);
	return NULL;
}

/* admit - room for one more connection? counted in when so */
static int
admit(struct http *h)
{
	int	 ok;

	pthread_mutex_lock(&h->mu);
	if ((ok = h->active < HTTP_CONN_MAX))
		h->active++;
	pthread_mutex_unlock(&h->mu);
	return ok;
}

/* dispatch - a thread for a new connection, or 503 at once */
static void
dispatch(struct http *h, pthread_attr_t *attr, int fd)
{
	struct http_conn *c = NULL;
	pthread_t th;

	if (admit(h)) {
		if ((c = malloc(sizeof(*c))) != NULL) {
			c->h = h;
			c->fd = fd;
			if (pthread_create(&th, attr, http_serve, c) == 0)
				return;
			free(c);
		}
		pthread_mutex_lock(&h->mu);
		h->active--;
		pthread_mutex_unlock(&h->mu);
	}
	/* Non-blocking: a full socket buffer loses the answer, not time. */
	respond_text(fd, 503, "Service Unavailable", "Retry-After: 1\r\n",
	    "too many metrics connections\n", 0);
	close(fd);
}

/* http_accept - the listener's thread, until the front stops */
static void *
http_accept(void *arg)
{
	struct http *h = arg;
	struct pollfd p = { h->fd, POLLIN, 0 };
	pthread_attr_t attr;
	int	 fd;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, HTTP_STACK);
	while (!*h->f->stop && !signer_ipc_broken(h->f->signer)) {
		if (poll(&p, 1, TICK_MS) <= 0)
			continue;
		/* Another generation's front may take it first: non-blocking. */
		fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			dispatch(h, &attr, fd);
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

/* metrics_http_start - see front.h */
int
metrics_http_start(struct front *f, struct stats *const *fronts, size_t n,
    int fd)
{
	static struct http h;		/* one listener per process */
	pthread_t th;

	h.f = f;
	h.n = 0;
	for (size_t i = 0; i < n && h.n < 2; i++)
		if (fronts[i] != NULL)
			h.fronts[h.n++] = fronts[i];
	h.fd = fd;
	pthread_mutex_init(&h.mu, NULL);
	if (h.n == 0 || pthread_create(&th, NULL, http_accept, &h) != 0) {
		log_err("metrics: cannot start the listener");
		return -1;
	}
	pthread_detach(th);
	return 0;
}
