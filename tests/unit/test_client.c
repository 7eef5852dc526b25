/*
 * test_client.c - client/client.c against a fake p11dkimd: a thread that
 * accepts on a Unix socket in a temporary directory and speaks
 * docs/PROTOCOL.md, recording what it was sent and answering as a test
 * scripts it (OK, PERMFAIL, TEMPFAIL, a garbled reply, an early answer
 * and close, no answer at all).
 *
 * SIGPIPE is left at its default on purpose: the library must never
 * raise it, and the fake server sends with MSG_NOSIGNAL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/client.h"

#define FIELD		"DKIM-Signature: v=1; a=rsa-sha256; b=x\r\n"
#define OK_FIELD	"OK 40\n" FIELD
#define MSG		"From: ana@example.org\r\nSubject: hi\r\n\r\nHello\r\n"
#define RECORD_MAX	(4 * 1024 * 1024)
#define MIB		(1024 * 1024)

enum serve_mode {
	SERVE_SCRIPT,		/* answer each request with reply */
	SERVE_EARLY,		/* first DATA frame: reply, close; then OK */
	SERVE_STALL,		/* read to EOF, never answer */
	SERVE_BUSY		/* answer at once, unasked, close; then OK */
};

struct fake {
	int	 listen_fd;
	pthread_t thread;
	enum serve_mode mode;
	const char *reply;	/* bytes sent as the answer */
	size_t	 reply_len;
	int	 close_after;	/* close after each answer */
	int	 want_conns;	/* connections to serve, then exit */
	/* what the server saw */
	int	 conns;
	int	 closed;	/* connections closed (atomic) */
	int	 requests;
	int	 stats;
	size_t	 frames;
	size_t	 max_frame;
	char	 domain[1100];
	char	*msg;		/* the last request's message */
	size_t	 msg_len;
};

static char dir[] = "/tmp/p11dkim-client-XXXXXX";
static char sock_path[200];

/* now_ms - a monotonic clock in milliseconds */
static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* srv_send - all of n bytes to the client, no SIGPIPE */
static void
srv_send(int fd, const void *p, size_t n)
{
	(void)send(fd, p, n, MSG_NOSIGNAL);
}

/* srv_read_exact - n bytes; 0, or -1 on EOF or error */
static int
srv_read_exact(int fd, char *p, size_t n)
{
	ssize_t	 r;

	while (n > 0) {
		if ((r = read(fd, p, n)) <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* srv_read_line - one command line without LF; length, or -1 */
static int
srv_read_line(int fd, char *line, size_t size)
{
	size_t	 n = 0;
	char	 ch;

	while (n + 1 < size) {
		if (read(fd, &ch, 1) != 1)
			return -1;
		if (ch == '\n') {
			line[n] = '\0';
			return (int)n;
		}
		line[n++] = ch;
	}
	return -1;
}

/* srv_record - append a DATA frame to the recorded message */
static void
srv_record(struct fake *f, const char *data, size_t n)
{
	if (f->msg_len + n > RECORD_MAX)
		return;
	memcpy(f->msg + f->msg_len, data, n);
	f->msg_len += n;
	f->frames++;
	if (n > f->max_frame)
		f->max_frame = n;
}

/* srv_request - OPTION / DATA / END after SIGN; 0 at END, -1: close */
static int
srv_request(struct fake *f, int fd)
{
	static char data[MIB];
	char	 line[1100];
	unsigned long n;

	f->msg_len = f->frames = f->max_frame = 0;
	f->domain[0] = '\0';
	for (;;) {
		if (srv_read_line(fd, line, sizeof(line)) < 0)
			return -1;
		if (strcmp(line, "END") == 0)
			return 0;
		if (strncmp(line, "OPTION domain=", 14) == 0) {
			snprintf(f->domain, sizeof(f->domain), "%s", line + 14);
			continue;
		}
		if (sscanf(line, "DATA %lu", &n) != 1 || n == 0 || n > MIB ||
		    srv_read_exact(fd, data, n) == -1)
			return -1;
		srv_record(f, data, n);
		if (f->mode == SERVE_EARLY) {
			srv_send(fd, f->reply, f->reply_len);
			return -1;
		}
	}
}

/* srv_stall - take everything, answer nothing, until the client goes */
static void
srv_stall(int fd)
{
	char	 buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* srv_connection - serve one connection until QUIT, EOF or a close */
static void
srv_connection(struct fake *f, int fd)
{
	static const char stats[] = "OK 25\np11dkim_requests_total 3\n";
	char	 line[1100];

	if (f->mode == SERVE_STALL) {
		srv_stall(fd);
		return;
	}
	if (f->mode == SERVE_BUSY) {
		srv_send(fd, f->reply, f->reply_len);
		return;
	}
	while (srv_read_line(fd, line, sizeof(line)) >= 0) {
		if (strcmp(line, "STATS") == 0) {
			f->stats++;
			srv_send(fd, stats, sizeof(stats) - 1);
			continue;
		}
		if (strcmp(line, "SIGN") != 0 || srv_request(f, fd) == -1)
			return;
		f->requests++;
		srv_send(fd, f->reply, f->reply_len);
		if (f->close_after)
			return;
	}
}

/* srv_main - accept want_conns connections (5 s each at most) */
static void *
srv_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd;
	int	 fd;

	while (f->conns < f->want_conns) {
		pfd.fd = f->listen_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 5000) != 1 ||
		    (fd = accept(f->listen_fd, NULL, NULL)) == -1)
			break;
		f->conns++;
		srv_connection(f, fd);
		close(fd);
		__atomic_add_fetch(&f->closed, 1, __ATOMIC_SEQ_CST);
		if (f->mode == SERVE_EARLY || f->mode == SERVE_BUSY) {
			/* the next connection is a normal one */
			f->mode = SERVE_SCRIPT;
			f->reply = OK_FIELD;
			f->reply_len = sizeof(OK_FIELD) - 1;
		}
	}
	return NULL;
}

/* listen_at - a listening Unix socket at path with backlog */
static int
listen_at(const char *path, int backlog)
{
	struct sockaddr_un sun;
	int	 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	if (backlog >= 0)
		assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* fake_start - a server answering with reply for want_conns connections */
static struct fake *
fake_start(enum serve_mode mode, const char *reply, size_t reply_len,
    int want_conns)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->msg = malloc(RECORD_MAX));
	f->mode = mode;
	f->reply = reply;
	f->reply_len = reply_len;
	f->want_conns = want_conns;
	f->listen_fd = listen_at(sock_path, 16);
	assert_int_equal(pthread_create(&f->thread, NULL, srv_main, f), 0);
	return f;
}

/* wait_closed - until the server has closed n connections */
static void
wait_closed(struct fake *f, int n)
{
	long	 t0 = now_ms();

	while (__atomic_load_n(&f->closed, __ATOMIC_SEQ_CST) < n) {
		assert_true(now_ms() - t0 < 5000);
		usleep(1000);
	}
}

/* fake_stop - wait for the server thread; the counts are then stable */
static void
fake_stop(struct fake *f)
{
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	close(f->listen_fd);
	unlink(sock_path);
}

/* fake_free - free what fake_start made */
static void
fake_free(struct fake *f)
{
	free(f->msg);
	free(f);
}

/* client_at - a client for the test socket, short timeouts */
static struct p11dkim_client *
client_at(const char *path, unsigned int io_ms)
{
	struct p11dkim_client *c = p11dkim_client_new(path);

	assert_non_null(c);
	assert_int_equal(p11dkim_client_set_timeouts(c, 2000, io_ms),
	    P11DKIM_CLIENT_OK);
	return c;
}

/* sign_once - begin, one write, end; returns the status */
static enum p11dkim_client_status
sign_once(struct p11dkim_client *c, const char *domain, const char *msg,
    size_t len, struct p11dkim_client_result *r)
{
	(void)p11dkim_client_begin(c, domain);
	(void)p11dkim_client_write(c, msg, len);
	return p11dkim_client_end(c, r);
}

/* test_ok - OK with one field; the message arrives as sent */
static void
test_ok(void **state)
{
	struct fake *f = fake_start(SERVE_SCRIPT, OK_FIELD,
	    sizeof(OK_FIELD) - 1, 1);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;

	(void)state;
	assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
	    P11DKIM_CLIENT_OK);
	assert_int_equal(r.status, P11DKIM_CLIENT_OK);
	assert_string_equal(r.fields, FIELD);
	assert_int_equal(r.fields_len, sizeof(FIELD) - 1);
	assert_string_equal(r.reason, "");
	p11dkim_client_result_release(&r);
	p11dkim_client_result_release(&r);	/* twice is fine */
	assert_null(r.fields);
	p11dkim_client_free(c);
	fake_stop(f);
	assert_int_equal(f->msg_len, sizeof(MSG) - 1);
	assert_memory_equal(f->msg, MSG, sizeof(MSG) - 1);
	assert_int_equal(f->frames, 1);
	assert_string_equal(f->domain, "");
	fake_free(f);
}

/* test_domain - OPTION domain= reaches the daemon */
static void
test_domain(void **state)
{
	struct fake *f = fake_start(SERVE_SCRIPT, OK_FIELD,
	    sizeof(OK_FIELD) - 1, 1);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;

	(void)state;
	assert_int_equal(sign_once(c, "tickets.mosamuseum.com", MSG,
	    sizeof(MSG) - 1, &r), P11DKIM_CLIENT_OK);
	p11dkim_client_result_release(&r);
	p11dkim_client_free(c);
	fake_stop(f);
	assert_string_equal(f->domain, "tickets.mosamuseum.com");
	fake_free(f);
}

/* pattern - a 3 MiB message whose bytes depend on their offset */
static char *
pattern(size_t len)
{
	char	*p = malloc(len);
	size_t	 i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (char)((i * 131u + i / 4099u) & 0xff);
	return p;
}

/* send_in_pieces - write len bytes in pieces of step (0: at once) */
static struct fake *
send_in_pieces(const char *msg, size_t len, size_t step)
{
	struct fake *f = fake_start(SERVE_SCRIPT, OK_FIELD,
	    sizeof(OK_FIELD) - 1, 1);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;
	size_t	 off, n;

	assert_int_equal(p11dkim_client_begin(c, NULL), P11DKIM_CLIENT_OK);
	for (off = 0; off < len; off += n) {
		n = step == 0 || len - off < step ? len - off : step;
		assert_int_equal(p11dkim_client_write(c, msg + off, n),
		    P11DKIM_CLIENT_OK);
	}
	assert_int_equal(p11dkim_client_end(c, &r), P11DKIM_CLIENT_OK);
	p11dkim_client_result_release(&r);
	p11dkim_client_free(c);
	fake_stop(f);
	assert_int_equal(f->msg_len, len);
	assert_memory_equal(f->msg, msg, len);
	return f;
}

/* test_chunking - 3 MiB: frames of <= 1 MiB, small writes into 64 KiB */
static void
test_chunking(void **state)
{
	const size_t len = 3 * MIB + 12345;
	char	*msg = pattern(len);
	struct fake *f;

	(void)state;
	f = send_in_pieces(msg, len, 0);		/* one write */
	assert_true(f->max_frame <= MIB);
	assert_int_equal(f->frames, 4);
	fake_free(f);
	f = send_in_pieces(msg, len, 4093);		/* small writes */
	assert_int_equal(f->max_frame, P11DKIM_CLIENT_CHUNK);
	assert_int_equal(f->frames, (len + P11DKIM_CLIENT_CHUNK - 1) /
	    P11DKIM_CLIENT_CHUNK);
	fake_free(f);
	f = send_in_pieces(msg, len, 1);		/* byte by byte */
	assert_int_equal(f->max_frame, P11DKIM_CLIENT_CHUNK);
	fake_free(f);
	f = send_in_pieces(msg, len, 700000);		/* mixed */
	assert_true(f->max_frame <= MIB);
	fake_free(f);
	free(msg);
}

/* test_several_requests - three requests and STATS on one connection */
static void
test_several_requests(void **state)
{
	struct fake *f = fake_start(SERVE_SCRIPT, OK_FIELD,
	    sizeof(OK_FIELD) - 1, 1);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;
	char	*text;
	int	 i;

	(void)state;
	assert_int_equal(p11dkim_client_connect(c), P11DKIM_CLIENT_OK);
	for (i = 0; i < 3; i++) {
		assert_int_equal(sign_once(c, i == 1 ? "example.org" : NULL,
		    MSG, sizeof(MSG) - 1, &r), P11DKIM_CLIENT_OK);
		assert_string_equal(r.fields, FIELD);
		p11dkim_client_result_release(&r);
		assert_int_equal(p11dkim_client_stats(c, &text),
		    P11DKIM_CLIENT_OK);
		assert_string_equal(text, "p11dkim_requests_total 3\n");
		free(text);
	}
	p11dkim_client_free(c);
	fake_stop(f);
	assert_int_equal(f->conns, 1);
	assert_int_equal(f->requests, 3);
	assert_int_equal(f->stats, 3);
	fake_free(f);
}

/* refusal_case - a reply to one request, and what the client makes of it */
struct refusal_case {
	const char *reply;
	enum p11dkim_client_status status;
	int	 from_daemon;
	int	 not_authorized;
	const char *reason;	/* expected substring */
};

/* test_refusals - PERMFAIL, TEMPFAIL and "not authorized" */
static void
test_refusals(void **state)
{
	static const struct refusal_case cases[] = {
		{ "PERMFAIL no From field\n", P11DKIM_CLIENT_PERMFAIL, 1, 0,
		    "no From field" },
		{ "PERMFAIL not authorized\n", P11DKIM_CLIENT_PERMFAIL, 1, 1,
		    "not authorized" },
		{ "PERMFAIL not authorized: uid 1000 for example.org\n",
		    P11DKIM_CLIENT_PERMFAIL, 1, 1, "uid 1000" },
		{ "PERMFAIL not authorizedly\n", P11DKIM_CLIENT_PERMFAIL, 1,
		    0, "authorizedly" },
		{ "TEMPFAIL not authorized\n", P11DKIM_CLIENT_TEMPFAIL, 1, 0,
		    "not authorized" },
		{ "TEMPFAIL token unavailable\r\n", P11DKIM_CLIENT_TEMPFAIL,
		    1, 0, "token unavailable" },
		{ "TEMPFAIL\n", P11DKIM_CLIENT_TEMPFAIL, 1, 0,
		    "(no reason given)" },
		{ "PERMFAIL bad\001line\n", P11DKIM_CLIENT_PERMFAIL, 1, 0,
		    "bad?line" },
	};
	struct p11dkim_client_result r;
	struct p11dkim_client *c;
	struct fake *f;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = fake_start(SERVE_SCRIPT, cases[i].reply,
		    strlen(cases[i].reply), 1);
		c = client_at(sock_path, 5000);
		assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
		    cases[i].status);
		assert_int_equal(r.from_daemon, cases[i].from_daemon);
		assert_int_equal(p11dkim_client_not_authorized(&r),
		    cases[i].not_authorized);
		assert_non_null(strstr(r.reason, cases[i].reason));
		assert_null(r.fields);
		/* A refusal keeps the connection: the next request works. */
		assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
		    cases[i].status);
		p11dkim_client_free(c);
		fake_stop(f);
		assert_int_equal(f->conns, 1);
		assert_int_equal(f->requests, 2);
		fake_free(f);
	}
}

/* garbled_case - a reply out of protocol, and the reason it gets */
struct garbled_case {
	const char *reply;	/* NULL: a status line of 2999 bytes */
	size_t	 len;
	const char *reason;
};

#define REPLY(s)	s, sizeof(s) - 1

/* test_garbled - every malformed reply is TEMPFAIL naming the socket */
static void
test_garbled(void **state)
{
	static const struct garbled_case cases[] = {
		{ REPLY("HELLO\n"), "unknown status line: \"HELLO\"" },
		{ REPLY("OK abc\n"), "bad OK length" },
		{ REPLY("OK 0\n"), "bad OK length" },
		{ REPLY("OK -5\n"), "bad OK length" },
		{ REPLY("OK 012\n"), "bad OK length" },
		{ REPLY("OK 99999999999\n"), "bad OK length" },
		{ REPLY("OK 65537\n"), "bad OK length" },
		{ REPLY("OK  40\n" FIELD), "bad OK length" },
		{ REPLY("OK 10\nshort"), "connection closed inside the reply" },
		{ REPLY("OK 5\nab\ncd"), "not well-formed" },
		{ REPLY("OK 4\nX:\n\n"), "not well-formed" },
		{ REPLY("OK 14\nX: y\r\n\r\nbody\r\n"), "not well-formed" },
		{ REPLY("OK 8\n\tX: y\r\nZ"), "not well-formed" },
		{ REPLY("OK 7\nX y z\r\n"), "not well-formed" },
		{ REPLY("OK 9\nX: y\r\n \r\n"), "not well-formed" },
		{ REPLY("OK 6\nX: y\r\r"), "not well-formed" },
		{ REPLY("OK 6\nX:\0y\r\n"), "not well-formed" },
		{ REPLY("OK 4\n: y\r\n"), "not well-formed" },
		{ REPLY("OK 5\nX: y\r"), "not well-formed" },
		{ REPLY("PERM\0FAIL x\n"), "NUL in status line" },
		{ REPLY(""), "connection closed before the reply" },
		{ NULL, 2999, "status line too long" },
	};
	static char long_line[3000];
	struct p11dkim_client_result r;
	struct p11dkim_client *c;
	struct fake *f;
	size_t	 i;

	(void)state;
	memset(long_line, 'A', sizeof(long_line) - 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = fake_start(SERVE_SCRIPT, cases[i].reply != NULL ?
		    cases[i].reply : long_line, cases[i].len, 1);
		f->close_after = 1;
		c = client_at(sock_path, 5000);
		assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
		    P11DKIM_CLIENT_TEMPFAIL);
		assert_int_equal(r.from_daemon, 0);
		if (strstr(r.reason, cases[i].reason) == NULL ||
		    strstr(r.reason, sock_path) == NULL)
			fail_msg("case %zu: reason \"%s\"", i, r.reason);
		assert_null(r.fields);
		p11dkim_client_free(c);
		fake_stop(f);
		fake_free(f);
	}
}

/* test_fields_folded - several fields, folded lines: accepted as sent */
static void
test_fields_folded(void **state)
{
	static const char fields[] =
	    "DKIM-Signature: v=1; a=ed25519-sha256; d=example.org;\r\n"
	    "\tb=abc\r\n"
	    "DKIM-Signature: v=1; a=rsa-sha256;\r\n"
	    " \tb=def\r\n";
	char	 reply[300];
	struct fake *f;
	struct p11dkim_client *c;
	struct p11dkim_client_result r;
	int	 n;

	(void)state;
	n = snprintf(reply, sizeof(reply), "OK %zu\r\n%s",
	    sizeof(fields) - 1, fields);
	f = fake_start(SERVE_SCRIPT, reply, (size_t)n, 1);
	c = client_at(sock_path, 5000);
	assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
	    P11DKIM_CLIENT_OK);
	assert_int_equal(r.fields_len, sizeof(fields) - 1);
	assert_memory_equal(r.fields, fields, sizeof(fields));
	p11dkim_client_result_release(&r);
	p11dkim_client_free(c);
	fake_stop(f);
	fake_free(f);
}

/* test_early_reply - PERMFAIL and close mid-message: EPIPE, reply kept */
static void
test_early_reply(void **state)
{
	static const char reply[] = "PERMFAIL message too large\n";
	const size_t len = 3 * MIB;
	char	*msg = pattern(len);
	struct fake *f = fake_start(SERVE_EARLY, reply, sizeof(reply) - 1, 2);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;
	enum p11dkim_client_status st = P11DKIM_CLIENT_OK;
	size_t	 off;

	(void)state;
	assert_int_equal(p11dkim_client_begin(c, NULL), P11DKIM_CLIENT_OK);
	/* The server answers after the first frame; writes see EPIPE. */
	for (off = 0; off < len && st == P11DKIM_CLIENT_OK; off += 100000)
		st = p11dkim_client_write(c, msg + off,
		    len - off < 100000 ? len - off : 100000);
	assert_int_equal(st, P11DKIM_CLIENT_PERMFAIL);
	assert_int_equal(p11dkim_client_write(c, msg, 10), st); /* sticky */
	assert_int_equal(p11dkim_client_end(c, &r), P11DKIM_CLIENT_PERMFAIL);
	assert_int_equal(r.from_daemon, 1);
	assert_string_equal(r.reason, "message too large");
	/* The next request connects again. */
	assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
	    P11DKIM_CLIENT_OK);
	p11dkim_client_result_release(&r);
	p11dkim_client_free(c);
	fake_stop(f);
	assert_int_equal(f->conns, 2);
	fake_free(f);
	free(msg);
}

/* test_early_close - closed mid-message without a reply: TEMPFAIL */
static void
test_early_close(void **state)
{
	const size_t len = 3 * MIB;
	char	*msg = pattern(len);
	struct fake *f = fake_start(SERVE_EARLY, "", 0, 1);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;

	(void)state;
	assert_int_equal(sign_once(c, NULL, msg, len, &r),
	    P11DKIM_CLIENT_TEMPFAIL);
	assert_int_equal(r.from_daemon, 0);
	assert_non_null(strstr(r.reason, sock_path));
	assert_non_null(strstr(r.reason, "closed by p11dkimd"));
	p11dkim_client_free(c);
	fake_stop(f);
	fake_free(f);
	free(msg);
}

/* test_busy - "TEMPFAIL overloaded" at once, then close: that reason */
static void
test_busy(void **state)
{
	static const char reply[] = "TEMPFAIL overloaded: all workers busy\n";
	struct fake *f = fake_start(SERVE_BUSY, reply, sizeof(reply) - 1, 1);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;
	const size_t len = 2 * MIB;
	char	*msg = pattern(len);

	(void)state;
	assert_int_equal(p11dkim_client_connect(c), P11DKIM_CLIENT_OK);
	fake_stop(f);	/* answered and closed before the client sends */
	assert_int_equal(sign_once(c, NULL, msg, len, &r),
	    P11DKIM_CLIENT_TEMPFAIL);
	assert_int_equal(r.from_daemon, 1);
	assert_string_equal(r.reason, "overloaded: all workers busy");
	p11dkim_client_free(c);
	fake_free(f);
	free(msg);
}

/* test_fresh_closed - connected, closed unasked without a word: retry */
static void
test_fresh_closed(void **state)
{
	struct fake *f = fake_start(SERVE_BUSY, "", 0, 2);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;

	(void)state;
	assert_int_equal(p11dkim_client_connect(c), P11DKIM_CLIENT_OK);
	wait_closed(f, 1);
	assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
	    P11DKIM_CLIENT_OK);
	p11dkim_client_result_release(&r);
	p11dkim_client_free(c);
	fake_stop(f);
	assert_int_equal(f->conns, 2);
	fake_free(f);
}

/* test_timeout - no reply within the I/O timeout: TEMPFAIL, promptly */
static void
test_timeout(void **state)
{
	struct fake *f = fake_start(SERVE_STALL, "", 0, 1);
	struct p11dkim_client *c = client_at(sock_path, 60000);
	struct p11dkim_client_result r;
	long	 t0 = now_ms();

	(void)state;
	/* A new timeout applies to the open connection at once. */
	assert_int_equal(p11dkim_client_connect(c), P11DKIM_CLIENT_OK);
	assert_int_equal(p11dkim_client_set_timeouts(c, 2000, 200),
	    P11DKIM_CLIENT_OK);
	assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
	    P11DKIM_CLIENT_TEMPFAIL);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(r.reason, "timed out after 200 ms"));
	assert_non_null(strstr(r.reason, sock_path));
	p11dkim_client_free(c);
	fake_stop(f);
	fake_free(f);
}

/* test_send_timeout - a daemon that stops reading: TEMPFAIL on write */
static void
test_send_timeout(void **state)
{
	const size_t len = 8 * MIB;
	char	*msg = pattern(len);
	int	 lfd = listen_at(sock_path, 4);
	struct p11dkim_client *c = client_at(sock_path, 200);
	struct p11dkim_client_result r;

	(void)state;
	/* Accepted by the kernel, never read: the socket buffer fills. */
	assert_int_equal(sign_once(c, NULL, msg, len, &r),
	    P11DKIM_CLIENT_TEMPFAIL);
	assert_non_null(strstr(r.reason, "send to"));
	assert_non_null(strstr(r.reason, "timed out"));
	p11dkim_client_free(c);
	close(lfd);
	unlink(sock_path);
	free(msg);
}

/* test_connect_timeout - a full listen queue: connect gives up in time */
static void
test_connect_timeout(void **state)
{
	int	 lfd = listen_at(sock_path, 0);
	struct p11dkim_client *first = client_at(sock_path, 5000);
	struct p11dkim_client *c = p11dkim_client_new(sock_path);
	long	 t0;

	(void)state;
	assert_int_equal(p11dkim_client_connect(first), P11DKIM_CLIENT_OK);
	assert_int_equal(p11dkim_client_set_timeouts(c, 200, 5000),
	    P11DKIM_CLIENT_OK);
	t0 = now_ms();
	assert_int_equal(p11dkim_client_connect(c), P11DKIM_CLIENT_TEMPFAIL);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(p11dkim_client_reason(c), "timed out after "
	    "200 ms"));
	p11dkim_client_free(c);
	p11dkim_client_free(first);
	close(lfd);
	unlink(sock_path);
}

/* test_not_running - no socket, or nobody listening: TEMPFAIL naming it */
static void
test_not_running(void **state)
{
	char	 path[300];
	struct p11dkim_client *c;
	struct p11dkim_client_result r;
	int	 fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/nobody.sock", dir);
	c = client_at(path, 1000);
	assert_int_equal(p11dkim_client_begin(c, NULL),
	    P11DKIM_CLIENT_TEMPFAIL);
	assert_int_equal(p11dkim_client_write(c, MSG, 5),
	    P11DKIM_CLIENT_TEMPFAIL);
	assert_int_equal(p11dkim_client_end(c, &r), P11DKIM_CLIENT_TEMPFAIL);
	assert_non_null(strstr(r.reason, path));
	assert_non_null(strstr(r.reason, "is p11dkimd running?"));
	p11dkim_client_free(c);
	fd = listen_at(path, -1);	/* bound, not listening: refused */
	c = client_at(path, 1000);
	assert_int_equal(p11dkim_client_connect(c), P11DKIM_CLIENT_TEMPFAIL);
	assert_non_null(strstr(p11dkim_client_reason(c), "refused"));
	p11dkim_client_free(c);
	close(fd);
	unlink(path);
}

/* test_reconnect - the daemon closed an idle connection: connect again */
static void
test_reconnect(void **state)
{
	struct fake *f = fake_start(SERVE_SCRIPT, OK_FIELD,
	    sizeof(OK_FIELD) - 1, 3);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;
	char	*text;
	int	 i;

	(void)state;
	f->close_after = 1;
	for (i = 0; i < 2; i++) {
		assert_int_equal(sign_once(c, NULL, MSG, sizeof(MSG) - 1, &r),
		    P11DKIM_CLIENT_OK);
		p11dkim_client_result_release(&r);
		wait_closed(f, i + 1);
	}
	assert_int_equal(p11dkim_client_stats(c, &text), P11DKIM_CLIENT_OK);
	free(text);
	p11dkim_client_free(c);
	fake_stop(f);
	assert_int_equal(f->conns, 3);
	fake_free(f);
}

/* test_usage - calls out of order and bad arguments: USAGE */
static void
test_usage(void **state)
{
	char	 longpath[200];
	struct p11dkim_client *c = client_at(sock_path, 1000);
	struct p11dkim_client_result r;
	char	 dummy = 'x';
	char	*text = &dummy;

	(void)state;
	assert_int_equal(p11dkim_client_write(c, MSG, 3),
	    P11DKIM_CLIENT_USAGE);
	assert_non_null(strstr(p11dkim_client_reason(c), "begin first"));
	assert_int_equal(p11dkim_client_end(c, &r), P11DKIM_CLIENT_USAGE);
	assert_int_equal(r.status, P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_begin(c, "bad domain"),
	    P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_write(c, MSG, 3),
	    P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_begin(c, NULL), P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_stats(c, &text), P11DKIM_CLIENT_USAGE);
	assert_null(text);
	assert_int_equal(p11dkim_client_end(c, &r), P11DKIM_CLIENT_USAGE);
	assert_non_null(strstr(r.reason, "bad domain"));
	assert_int_equal(p11dkim_client_begin(c, "a\nSTATS"),
	    P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_end(c, &r), P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_begin(c, ".example.org"),
	    P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_end(c, &r), P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_set_timeouts(c, 0, 1000),
	    P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_set_timeouts(c, 1000, 86400001),
	    P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_end(c, NULL), P11DKIM_CLIENT_USAGE);
	p11dkim_client_free(c);
	assert_int_equal(p11dkim_client_begin(NULL, NULL),
	    P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_write(NULL, MSG, 1),
	    P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_end(NULL, &r), P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_stats(NULL, &text),
	    P11DKIM_CLIENT_USAGE);
	assert_null(p11dkim_client_free(NULL));
	p11dkim_client_result_release(NULL);
	errno = 0;
	assert_null(p11dkim_client_new(""));
	assert_int_equal(errno, EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(p11dkim_client_new(longpath));
	assert_int_equal(errno, ENAMETOOLONG);
}

/* test_begin_twice - a second begin is refused; the first goes on */
static void
test_begin_twice(void **state)
{
	struct fake *f = fake_start(SERVE_SCRIPT, OK_FIELD,
	    sizeof(OK_FIELD) - 1, 1);
	struct p11dkim_client *c = client_at(sock_path, 5000);
	struct p11dkim_client_result r;

	(void)state;
	assert_int_equal(p11dkim_client_begin(c, NULL), P11DKIM_CLIENT_OK);
	assert_int_equal(p11dkim_client_write(c, MSG, 10), P11DKIM_CLIENT_OK);
	assert_int_equal(p11dkim_client_begin(c, NULL), P11DKIM_CLIENT_USAGE);
	assert_int_equal(p11dkim_client_write(c, &MSG[10],
	    sizeof(MSG) - 11), P11DKIM_CLIENT_OK);
	assert_int_equal(p11dkim_client_end(c, &r), P11DKIM_CLIENT_OK);
	p11dkim_client_result_release(&r);
	p11dkim_client_free(c);
	fake_stop(f);
	assert_int_equal(f->msg_len, sizeof(MSG) - 1);
	assert_memory_equal(f->msg, MSG, sizeof(MSG) - 1);
	fake_free(f);
}

/* test_names - status names and the default socket */
static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(p11dkim_client_status_name(P11DKIM_CLIENT_OK),
	    "OK");
	assert_string_equal(p11dkim_client_status_name(
	    P11DKIM_CLIENT_PERMFAIL), "PERMFAIL");
	assert_int_equal(unsetenv(P11DKIM_CLIENT_SOCKET_ENV), 0);
	assert_string_equal(p11dkim_client_default_socket(),
	    P11DKIM_CLIENT_DEFAULT_SOCKET);
	assert_int_equal(setenv(P11DKIM_CLIENT_SOCKET_ENV, "/tmp/x.sock", 1),
	    0);
	assert_string_equal(p11dkim_client_default_socket(), "/tmp/x.sock");
	assert_int_equal(unsetenv(P11DKIM_CLIENT_SOCKET_ENV), 0);
}

/* setup - a private directory for the sockets */
static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/p11dkimd.sock", dir);
	return 0;
}

/* teardown - remove it */
static int
teardown(void **state)
{
	char	 cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_chunking),
		cmocka_unit_test(test_several_requests),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_garbled),
		cmocka_unit_test(test_fields_folded),
		cmocka_unit_test(test_early_reply),
		cmocka_unit_test(test_early_close),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_fresh_closed),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_send_timeout),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_not_running),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_begin_twice),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("client", tests, setup, teardown);
}
