/*
 * client.h - the client library for mailers that ask p11dkimd to sign.
 *
 * Speaks the p11dkim protocol (docs/PROTOCOL.md) over the daemon's Unix
 * socket: connect, then any number of requests on the one connection.  A
 * request streams the message in pieces of any size and ends with the
 * daemon's verdict: OK with the DKIM-Signature header field(s) to put at
 * the top of the message, PERMFAIL (retrying will not help) or TEMPFAIL
 * (retry later).
 *
 *	c = p11dkim_client_new(NULL);			(NULL: default socket)
 *	p11dkim_client_begin(c, NULL);			(NULL: domain of From)
 *	while ((n = read(fd, buf, sizeof(buf))) > 0)
 *		if (p11dkim_client_write(c, buf, n) != P11DKIM_CLIENT_OK)
 *			break;				(early verdict)
 *	p11dkim_client_end(c, &r);			(always: the verdict)
 *	... r.status, r.reason, r.fields ...
 *	p11dkim_client_result_release(&r);
 *	p11dkim_client_free(c);
 *
 * Failure: the library never exits, prints or raises a signal.  Every
 * trouble on the client side (daemon not running, connection refused or
 * closed, broken pipe, malformed reply, timeout, out of memory) is
 * P11DKIM_CLIENT_TEMPFAIL with a one-line reason that names the socket
 * path, since retrying later may help.  P11DKIM_CLIENT_PERMFAIL comes only
 * from the daemon.  P11DKIM_CLIENT_USAGE is the caller's mistake (a call
 * out of order, a bad argument).
 *
 * Writes are buffered into DATA frames of up to 64 KiB; a large write
 * goes out directly in frames of up to 1 MiB.  When the daemon answers
 * before the end of the message (a refusal) and closes, the failing write
 * still reads that answer: write() returns its status and end() gives it.
 * Once a write fails, later writes do nothing and return the same status,
 * so a caller may also check only end().
 *
 * Sockets are sent to with MSG_NOSIGNAL: no SIGPIPE.  Timeouts count time
 * without progress: connecting (default 10 s) and each wait to send or
 * receive (default 60 s, including the wait for the signature).  A client
 * is not thread-safe; use one per thread.  It opens its socket with
 * close-on-exec.  If the daemon has closed an idle connection, the next
 * request connects again.
 */
#ifndef P11DKIM_CLIENT_H
#define P11DKIM_CLIENT_H

#include <stddef.h>

#define P11DKIM_CLIENT_DEFAULT_SOCKET	"/run/p11dkim/p11dkimd.sock"
#define P11DKIM_CLIENT_SOCKET_ENV	"P11DKIM_SOCKET"
#define P11DKIM_CLIENT_REASON_MAX	512		/* with the NUL */
#define P11DKIM_CLIENT_CHUNK		(64 * 1024)	/* buffered frame */
#define P11DKIM_CLIENT_FRAME_MAX	(1024 * 1024)	/* protocol limit */
#define P11DKIM_CLIENT_FIELDS_MAX	(64 * 1024)	/* accepted in OK */
#define P11DKIM_CLIENT_STATS_MAX	(16 * 1024 * 1024)

enum p11dkim_client_status {
	P11DKIM_CLIENT_OK = 0,
	P11DKIM_CLIENT_TEMPFAIL,	/* retry later (any client trouble) */
	P11DKIM_CLIENT_PERMFAIL,	/* the daemon refused for good */
	P11DKIM_CLIENT_USAGE		/* the caller's mistake */
};

/*
 * The verdict on one request.  p11dkim_client_end() fills every member;
 * the result owns fields, freed by p11dkim_client_result_release().
 */
struct p11dkim_client_result {
	enum p11dkim_client_status status;
	int	 from_daemon;	/* 1: reason is the daemon's reply text */
	char	 reason[P11DKIM_CLIENT_REASON_MAX];	/* one line, "" on OK */
	char	*fields;	/* OK: header field(s), CRLF, NUL-terminated */
	size_t	 fields_len;	/* OK: bytes in fields, without the NUL */
};

struct p11dkim_client;

/* p11dkim_client_default_socket - $P11DKIM_SOCKET, or the default path */
const char *p11dkim_client_default_socket(void);

/*
 * p11dkim_client_new - a client for the socket at path (NULL: the
 * default socket); does not connect yet.  NULL with errno ENOMEM, or
 * EINVAL / ENAMETOOLONG when path is empty or too long for a socket.
 * The caller frees it with p11dkim_client_free().
 */
struct p11dkim_client *p11dkim_client_new(const char *path);

/*
 * p11dkim_client_set_timeouts - in milliseconds, each 1 to 86400000; an
 * open connection takes the new I/O timeout at once
 */
enum p11dkim_client_status p11dkim_client_set_timeouts(
	    struct p11dkim_client *, unsigned int connect_ms,
	    unsigned int io_ms);

/* p11dkim_client_connect - connect now (begin and stats do it if need be) */
enum p11dkim_client_status p11dkim_client_connect(struct p11dkim_client *);

/*
 * p11dkim_client_begin - start a request; domain (NULL: let the daemon
 * take it from From) is an ASCII domain name.  On failure the request
 * stays open with that verdict, which end() returns.
 */
enum p11dkim_client_status p11dkim_client_begin(struct p11dkim_client *,
	    const char *domain);

/* p11dkim_client_write - the next len bytes of the message */
enum p11dkim_client_status p11dkim_client_write(struct p11dkim_client *,
	    const void *data, size_t len);

/*
 * p11dkim_client_end - end the message and wait for the verdict; result
 * need not be initialized and is always filled (status as returned).
 */
enum p11dkim_client_status p11dkim_client_end(struct p11dkim_client *,
	    struct p11dkim_client_result *result);

/*
 * p11dkim_client_stats - the daemon's counters (Prometheus text format)
 * into *text, NUL-terminated, freed by the caller with free(); *text is
 * NULL on failure.
 */
enum p11dkim_client_status p11dkim_client_stats(struct p11dkim_client *,
	    char **text);

/* p11dkim_client_reason - why the latest failing call failed */
const char *p11dkim_client_reason(const struct p11dkim_client *);

/*
 * p11dkim_client_not_authorized - 1 when result is the daemon's PERMFAIL
 * "not authorized ..." (this peer may not sign for that domain)
 */
int	p11dkim_client_not_authorized(const struct p11dkim_client_result *);

/* p11dkim_client_status_name - "OK", "TEMPFAIL", "PERMFAIL", "USAGE" */
const char *p11dkim_client_status_name(enum p11dkim_client_status);

/* p11dkim_client_result_release - free fields; zero-filled or released: fine */
void	p11dkim_client_result_release(struct p11dkim_client_result *);

/* p11dkim_client_free - QUIT, close and free; NULL is fine; returns NULL */
struct p11dkim_client *p11dkim_client_free(struct p11dkim_client *);

#endif
