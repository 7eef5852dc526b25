/*
 * milter_load.c - a load generator for mail filters: the MTA side of the
 * Sendmail milter protocol (version 6), spoken the way Postfix speaks it.
 * N connections, each in a thread of its own, send small messages back
 * to back and time each one from its first command to the filter's final
 * reply.  The same load runs against any milter socket, so OpenDKIM and
 * p11dkimd's milter front are measured alike (bench/milter_bench.sh).
 *
 *   milter_load -s SOCKET [-c N] [-d SECONDS] [-w SECONDS] [-m SIZE]
 *               [-n COUNT] [-H FIELD] [-f DOMAIN] [-o FILE]
 *
 * A connection starts with SMFIC_OPTNEG (version 6, every action and
 * protocol option offered), CONNECT (a client at 127.0.0.1, family '4')
 * and HELO.  Each message is MAIL, RCPT, DATA, one HEADER per field, EOH,
 * BODY chunks of at most 65535 bytes and BODYEOB; then the filter's
 * modification requests and its final reply are read, and ABORT resets
 * the filter for the next message, as Postfix's smtpd does after every
 * transaction.  Macros go out before CONNECT (j, {daemon_name}, v), MAIL
 * (i, {mail_addr}), RCPT (i, {rcpt_addr}), DATA, EOH and BODYEOB (i), as
 * with Postfix's default milter_*_macros.  Following Postfix's milter8.c:
 * a step the filter negotiated away (SMFIP_NO*) is not sent, a reply it
 * negotiated away (SMFIP_NR_*) is not awaited, a header value keeps its
 * leading space only with SMFIP_HDR_LEADSPC, and SMFIR_SKIP ends the body
 * early.  Commands that need no reply (macros, ABORT, and those the filter
 * asked not to answer) wait in a buffer and leave with the next command
 * that needs one: fewer system calls in the client, the same bytes for
 * the filter.
 *
 * With -n COUNT a connection is closed (SMFIC_QUIT) and opened again
 * after COUNT messages; -n 1 is Postfix's case of one SMTP session per
 * message, whose connection set-up is then part of the message's time.
 *
 * A message is done when the final reply is CONTINUE or ACCEPT and the
 * filter added or inserted a field named FIELD (default DKIM-Signature;
 * -H '' for any filter).  REJECT, TEMPFAIL, DISCARD, a reply code, or no
 * such field make it refused.  An I/O error, 30 s without an answer, or a
 * reply that is not the protocol's ends the connection's thread as an
 * error.  -o FILE writes the last message done on the first connection
 * with the fields the filter added, in wire format (CRLF), so that an
 * independent verifier can check that what was measured was correct.
 *
 * The last line is for scripts: "result: key=value ...".  Exit status: 0
 * when every message was done, 2 when some were refused or failed, 1 on
 * a usage or setup error.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define KIB		((size_t)1024)
#define CONNS_MAX	256
#define BODY_MIN	3
#define BODY_MAX	(64 * 1024 * KIB)
#define CHUNK_MAX	65535		/* MILTER_CHUNK_SIZE (libmilter mfdef.h) */
#define OUTBUF		(CHUNK_MAX + 4 * KIB)	/* one body chunk and more */
#define INBUF		(64 * KIB)
#define PACKET_MAX	(1024 * KIB)	/* largest reply we accept */
#define IO_TIMEOUT_S	30
#define FIELDS_MAX	8		/* header fields of one message */
#define ADDED_MAX	16		/* added fields kept for -o */

/* Milter protocol version 6 (libmilter's mfdef.h; Postfix's milter8.c). */
#define MILTER_VERSION	6
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'
#define SMFIR_ADDHEADER	'h'
#define SMFIR_INSHEADER	'i'
#define SMFIR_CHGHEADER	'm'
#define SMFIR_PROGRESS	'p'
#define SMFIR_CONTINUE	'c'
#define SMFIR_ACCEPT	'a'
#define SMFIR_REJECT	'r'
#define SMFIR_TEMPFAIL	't'
#define SMFIR_DISCARD	'd'
#define SMFIR_REPLYCODE	'y'
#define SMFIR_SKIP	's'
#define SMFIR_OPTNEG	'O'
#define SMFIF_ALL	0x000001ffU	/* SMFI_CURR_ACTS: every action */
#define SMFIP_ALL	0x001fffffU	/* SMFI_CURR_PROT: every option */
#define SMFIP_NOCONNECT	0x00000001U
#define SMFIP_NOHELO	0x00000002U
#define SMFIP_NOMAIL	0x00000004U
#define SMFIP_NORCPT	0x00000008U
#define SMFIP_NOBODY	0x00000010U
#define SMFIP_NOHDRS	0x00000020U
#define SMFIP_NOEOH	0x00000040U
#define SMFIP_NR_HDR	0x00000080U
#define SMFIP_NODATA	0x00000200U
#define SMFIP_NR_CONN	0x00001000U
#define SMFIP_NR_HELO	0x00002000U
#define SMFIP_NR_MAIL	0x00004000U
#define SMFIP_NR_RCPT	0x00008000U
#define SMFIP_NR_DATA	0x00010000U
#define SMFIP_NR_EOH	0x00040000U
#define SMFIP_NR_BODY	0x00080000U
#define SMFIP_HDR_LEADSPC 0x00100000U

/* What one step of a message came to. */
enum step_result { STEP_ERROR = -1, STEP_GO = 0, STEP_STOP, STEP_SKIP };

struct opts {
	const char *sock;
	unsigned conns;		/* -c */
	double	 duration;	/* -d */
	double	 warmup;	/* -w */
	size_t	 body_size;	/* -m */
	unsigned long per_conn;	/* -n; 0: one connection for the whole run */
	const char *field;	/* -H; "": any final CONTINUE/ACCEPT will do */
	const char *domain;	/* -f */
	const char *out;	/* -o */
};

struct piece {
	const void *p;
	size_t	 n;
};

struct packet {
	char	 cmd;
	const unsigned char *data;
	size_t	 len;
};

struct hfield {
	const char *name;
	char	 value[256];	/* as in the message: leading space included */
};

struct added {
	char	*name;
	char	*value;
	long	 index;		/* SMFIR_INSHEADER position; -1: appended */
};

struct bench;

struct conn {
	struct bench *b;
	pthread_t th;
	unsigned id;
	int	 fd;		/* -1: not connected */
	uint32_t version, actions, proto;	/* what the filter asked for */
	unsigned char out[OUTBUF];
	size_t	 olen;
	unsigned char *in;	/* in[ipos..ilen): bytes not parsed yet */
	size_t	 ipos, ilen, icap;
	unsigned long seq;	/* messages started on this thread */
	unsigned long on_conn;	/* messages on the current connection */
	int	 field_seen;	/* the message got the -H field */
	int	 early;		/* the filter accepted before BODYEOB */
	struct added added[ADDED_MAX];
	size_t	 nadded;
	struct series lat;
	unsigned long done, refused, errors;
	unsigned long last_seq;	/* -o: the last message done */
	int	 have_last;
	struct added last[ADDED_MAX];
	size_t	 nlast;
	char	 first_error[200];
	char	 first_refusal[200];
};

struct bench {
	struct opts o;
	char	*body;
	double	 t_begin;	/* warm-up starts */
	double	 t_measure;	/* counting starts */
	double	 t_stop;	/* no message starts from then */
	double	 cpu_measured;	/* CPU seconds of this process while counting */
	struct conn *c;
};

static void conn_fail(struct conn *, const char *, ...)
    __attribute__((__format__(__printf__, 2, 3)));

/* conn_fail - the connection broke: count it, keep the first why */
static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list	 ap;

	c->errors++;
	if (c->first_error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
	va_end(ap);
}

/* note_refusal - keep the first reason a message was refused */
static void
note_refusal(struct conn *c, const char *what, const struct packet *p)
{
	int	 n;

	if (c->first_refusal[0] != '\0')
		return;
	n = (int)(p->len > 120 ? 120 : p->len);
	if (p->cmd == SMFIR_REPLYCODE)
		snprintf(c->first_refusal, sizeof(c->first_refusal),
		    "%s: reply code '%.*s'", what, n, (const char *)p->data);
	else
		snprintf(c->first_refusal, sizeof(c->first_refusal),
		    "%s: reply '%c'", what, p->cmd);
}

/* ---- the message ---------------------------------------------------- */

/*
 * body_make - size bytes of CRLF text lines, the same for every message;
 * the last line is cut short to fit, and is never empty
 */
static char *
body_make(size_t size)
{
	static const char line[] =
	    "Your tickets for the Mosa Museum are confirmed; please bring "
	    "this mail.\r\n";
	const size_t len = sizeof(line) - 1;
	char	*body;
	size_t	 at = 0;

	if ((body = malloc(size)) == NULL)
		bench_fatal("malloc %zu bytes for the body: %s", size, strerror(errno));
	for (; size - at >= len + 3; at += len)
		memcpy(body + at, line, len);
	for (size_t i = 0; at < size - 2; i++)	/* 1 to len characters */
		body[at++] = line[i % (len - 2)];
	memcpy(body + at, "\r\n", 2);
	return body;
}

/* fields_make - the header fields of message seq of connection id */
static size_t
fields_make(struct hfield *f, const char *domain, unsigned long seq,
    unsigned id)
{
	size_t	 n = 0;

#define FIELD(fname, ...) do {						\
	f[n].name = (fname);						\
	if ((size_t)snprintf(f[n].value, sizeof(f[n].value), __VA_ARGS__) \
	    >= sizeof(f[n].value))					\
		bench_fatal("header field %s too long", (fname));		\
	n++;								\
} while (0)
	FIELD("From", " Mosa Museum Tickets <tickets@%s>", domain);
	FIELD("To", " visitor%06lu@example.org", (seq * 7919 + id) % 1000000);
	FIELD("Subject", " Your tickets for Saturday (order %u-%08lu)", id,
	    seq % 100000000);
	FIELD("Date", " Sat, 28 Nov 2026 10:00:00 +0100");
	FIELD("Message-ID", " <%08lx.%04x@bench.%s>", seq & 0xffffffffUL,
	    id & 0xffffU, domain);
	FIELD("MIME-Version", " 1.0");
	FIELD("Content-Type", " text/plain; charset=us-ascii");
#undef FIELD
	return n;
}

/* ---- the connection: sending ---------------------------------------- */

/* out_flush - send every buffered command; 0 or -1 */
static int
out_flush(struct conn *c)
{
	size_t	 at = 0;
	ssize_t	 n;

	while (at < c->olen) {
		n = send(c->fd, c->out + at, c->olen - at, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			conn_fail(c, "send: %s", n < 0 && errno == EAGAIN ?
			    "timed out" : strerror(errno));
			return -1;
		}
		at += (size_t)n;
	}
	c->olen = 0;
	return 0;
}

/* cmd_put - buffer one command made of pieces; 0 or -1 */
static int
cmd_put(struct conn *c, char cmd, const struct piece *pc, int npc)
{
	size_t	 len = 1;
	uint32_t be;

	for (int i = 0; i < npc; i++)
		len += pc[i].n;
	if (len + 4 > sizeof(c->out))
		bench_fatal("command '%c' of %zu bytes does not fit", cmd, len);
	if (c->olen + len + 4 > sizeof(c->out) && out_flush(c) < 0)
		return -1;
	be = htonl((uint32_t)len);
	memcpy(c->out + c->olen, &be, 4);
	c->out[c->olen + 4] = (unsigned char)cmd;
	c->olen += 5;
	for (int i = 0; i < npc; i++) {
		memcpy(c->out + c->olen, pc[i].p, pc[i].n);
		c->olen += pc[i].n;
	}
	return 0;
}

/* str - a piece: the string and its NUL */
static struct piece
str(const char *s)
{
	struct piece p = { s, strlen(s) + 1 };

	return p;
}

/*
 * macros_put - an SMFIC_MACRO for command cmd: name, value, ..., NULL.
 * No reply comes to it.
 */
static int
macros_put(struct conn *c, int cmd, ...)
{
	struct piece pc[9];
	char	 for_cmd = (char)cmd;
	va_list	 ap;
	const char *s;
	int	 n = 1;

	pc[0].p = &for_cmd;
	pc[0].n = 1;
	va_start(ap, cmd);
	while ((s = va_arg(ap, const char *)) != NULL && n < 9)
		pc[n++] = str(s);
	va_end(ap);
	return cmd_put(c, SMFIC_MACRO, pc, n);
}

/* ---- the connection: receiving -------------------------------------- */

/*
 * in_fill - more bytes from the filter, towards want unparsed bytes in
 * all; 0 or -1 (EOF, error, timeout)
 */
static int
in_fill(struct conn *c, size_t want)
{
	ssize_t	 n;

	if (c->ipos + want > c->icap) {	/* make room: compact, then grow */
		memmove(c->in, c->in + c->ipos, c->ilen - c->ipos);
		c->ilen -= c->ipos;
		c->ipos = 0;
	}
	while (want > c->icap) {
		unsigned char *ni = realloc(c->in, c->icap * 2);

		if (ni == NULL)
			bench_fatal("out of memory for a %zu-byte reply", want);
		c->in = ni;
		c->icap *= 2;
	}
	do
		n = recv(c->fd, c->in + c->ilen, c->icap - c->ilen, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		conn_fail(c, "recv: %s", n == 0 ? "the filter closed the "
		    "connection" : errno == EAGAIN ? "no reply in 30 s" :
		    strerror(errno));
		return -1;
	}
	c->ilen += (size_t)n;
	return 0;
}

/* packet_read - the next packet from the filter; 0 or -1 */
static int
packet_read(struct conn *c, struct packet *p)
{
	uint32_t be;
	size_t	 len;

	while (c->ilen - c->ipos < 4)
		if (in_fill(c, 4) < 0)
			return -1;
	memcpy(&be, c->in + c->ipos, 4);
	len = ntohl(be);
	if (len < 1 || len > PACKET_MAX) {
		conn_fail(c, "reply of %zu bytes (1 to %zu allowed)", len,
		    (size_t)PACKET_MAX);
		return -1;
	}
	while (c->ilen - c->ipos < 4 + len)
		if (in_fill(c, 4 + len) < 0)
			return -1;
	p->cmd = (char)c->in[c->ipos + 4];
	p->data = c->in + c->ipos + 5;
	p->len = len - 1;
	c->ipos += 4 + len;
	return 0;
}

/* reply_read - the next packet that is not SMFIR_PROGRESS; 0 or -1 */
static int
reply_read(struct conn *c, struct packet *p)
{
	do
		if (packet_read(c, p) < 0)
			return -1;
	while (p->cmd == SMFIR_PROGRESS);
	return 0;
}

/* two_strings - name and value of a header reply (NUL-terminated each) */
static int
two_strings(const unsigned char *d, size_t len, const char **name,
    const char **value)
{
	const unsigned char *nul = memchr(d, '\0', len);

	if (nul == NULL || memchr(nul + 1, '\0', len - (size_t)(nul + 1 - d))
	    == NULL)
		return -1;
	*name = (const char *)d;
	*value = (const char *)nul + 1;
	return 0;
}

/* ---- one message ---------------------------------------------------- */

/*
 * reply_judge - what a reply to a step before BODYEOB means: go on, skip
 * the rest of the body (SMFIR_SKIP, only for BODY), or stop the message
 */
static enum step_result
reply_judge(struct conn *c, const struct packet *p, char cmd)
{
	switch (p->cmd) {
	case SMFIR_CONTINUE:
		return STEP_GO;
	case SMFIR_SKIP:
		if (cmd == SMFIC_BODY)
			return STEP_SKIP;
		break;
	case SMFIR_ACCEPT:
		c->early = 1;
		return STEP_STOP;
	case SMFIR_REJECT: case SMFIR_TEMPFAIL: case SMFIR_DISCARD:
	case SMFIR_REPLYCODE:
		c->refused++;
		note_refusal(c, cmd == SMFIC_CONNECT ? "CONNECT" :
		    cmd == SMFIC_MAIL ? "MAIL" : cmd == SMFIC_RCPT ? "RCPT" :
		    "before BODYEOB", p);
		return STEP_STOP;
	}
	conn_fail(c, "reply '%c' to command '%c'", p->cmd, cmd);
	return STEP_ERROR;
}

/*
 * step - one command: not sent if the filter asked for no such events
 * (no_bit), no reply awaited if it asked for none (nr_bit, may be 0)
 */
static enum step_result
step(struct conn *c, char cmd, uint32_t no_bit, uint32_t nr_bit,
    const struct piece *pc, int npc)
{
	struct packet p;

	if (c->proto & no_bit)
		return STEP_GO;
	if (cmd_put(c, cmd, pc, npc) < 0)
		return STEP_ERROR;
	if (nr_bit != 0 && (c->proto & nr_bit))
		return STEP_GO;
	if (out_flush(c) < 0 || reply_read(c, &p) < 0)
		return STEP_ERROR;
	return reply_judge(c, &p, cmd);
}

/* added_clear - forget the fields added to the last message */
static void
added_clear(struct added *a, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free(a[i].name);
		free(a[i].value);
	}
	*n = 0;
}

/* added_keep - note a field the filter added (for -o, connection 0) */
static void
added_keep(struct conn *c, const char *name, const char *value, long index)
{
	struct added *a;

	if (c->nadded == ADDED_MAX)
		return;
	a = &c->added[c->nadded];
	if ((a->name = strdup(name)) == NULL ||
	    (a->value = strdup(value)) == NULL)
		bench_fatal("out of memory");
	a->index = index;
	c->nadded++;
}

/* header_added - SMFIR_ADDHEADER or SMFIR_INSHEADER; 0 or -1 */
static int
header_added(struct conn *c, const struct packet *p)
{
	const unsigned char *d = p->data;
	size_t	 len = p->len;
	const char *name, *value;
	long	 pos = -1;
	uint32_t be;

	if (p->cmd == SMFIR_INSHEADER) {
		if (len < 4)
			return -1;
		memcpy(&be, d, 4);
		pos = (long)ntohl(be);
		d += 4;
		len -= 4;
	}
	if (two_strings(d, len, &name, &value) < 0)
		return -1;
	if (*c->b->o.field != '\0' && strcasecmp(name, c->b->o.field) == 0)
		c->field_seen = 1;
	if (c->b->o.out != NULL && c->id == 0)
		added_keep(c, name, value, pos);
	return 0;
}

/*
 * eob_replies - after BODYEOB: modification requests, then the final
 * reply.  STEP_GO when the message is done, STEP_STOP when refused.
 */
static enum step_result
eob_replies(struct conn *c)
{
	struct packet p;

	for (;;) {
		if (reply_read(c, &p) < 0)
			return STEP_ERROR;
		switch (p.cmd) {
		case SMFIR_ADDHEADER: case SMFIR_INSHEADER:
			if (header_added(c, &p) < 0) {
				conn_fail(c, "malformed '%c' reply", p.cmd);
				return STEP_ERROR;
			}
			continue;
		case SMFIR_CONTINUE: case SMFIR_ACCEPT:
			return STEP_GO;
		case SMFIR_REJECT: case SMFIR_TEMPFAIL: case SMFIR_DISCARD:
		case SMFIR_REPLYCODE:
			c->refused++;
			note_refusal(c, "BODYEOB", &p);
			return STEP_STOP;
		}
		if (strchr("m+-b2eq", p.cmd) != NULL && p.cmd != '\0')
			continue;	/* other modifications: not ours to judge */
		conn_fail(c, "reply '%c' to BODYEOB", p.cmd);
		return STEP_ERROR;
	}
}

/* envelope - MAIL, RCPT, DATA with their macros */
static enum step_result
envelope(struct conn *c, const char *qid, unsigned long seq)
{
	char	 from[320], mail_addr[300], rcpt[320], rcpt_addr[300];
	struct piece pc;
	enum step_result r;

	snprintf(mail_addr, sizeof(mail_addr), "tickets@%s", c->b->o.domain);
	snprintf(from, sizeof(from), "<%s>", mail_addr);
	snprintf(rcpt_addr, sizeof(rcpt_addr), "visitor%06lu@example.org",
	    (seq * 7919 + c->id) % 1000000);
	snprintf(rcpt, sizeof(rcpt), "<%s>", rcpt_addr);
	if (macros_put(c, SMFIC_MAIL, "i", qid, "{mail_addr}", mail_addr,
	    (const char *)NULL) < 0)
		return STEP_ERROR;
	pc = str(from);
	if ((r = step(c, SMFIC_MAIL, SMFIP_NOMAIL, SMFIP_NR_MAIL, &pc, 1)))
		return r;
	if (macros_put(c, SMFIC_RCPT, "i", qid, "{rcpt_addr}", rcpt_addr,
	    (const char *)NULL) < 0)
		return STEP_ERROR;
	pc = str(rcpt);
	if ((r = step(c, SMFIC_RCPT, SMFIP_NORCPT, SMFIP_NR_RCPT, &pc, 1)))
		return r;
	if (macros_put(c, SMFIC_DATA, "i", qid, (const char *)NULL) < 0)
		return STEP_ERROR;
	return step(c, SMFIC_DATA, SMFIP_NODATA, SMFIP_NR_DATA, NULL, 0);
}

/* headers - one HEADER per field, then EOH */
static enum step_result
headers(struct conn *c, const char *qid, unsigned long seq)
{
	struct hfield f[FIELDS_MAX];
	size_t	 n = fields_make(f, c->b->o.domain, seq, c->id);
	struct piece pc[2];
	const char *v;
	enum step_result r;

	for (size_t i = 0; i < n; i++) {
		v = f[i].value;
		/* Postfix eats one space after the colon unless asked not to */
		if (!(c->proto & SMFIP_HDR_LEADSPC) && *v == ' ')
			v++;
		pc[0] = str(f[i].name);
		pc[1] = str(v);
		if ((r = step(c, SMFIC_HEADER, SMFIP_NOHDRS, SMFIP_NR_HDR, pc,
		    2)))
			return r;
	}
	if (macros_put(c, SMFIC_EOH, "i", qid, (const char *)NULL) < 0)
		return STEP_ERROR;
	return step(c, SMFIC_EOH, SMFIP_NOEOH, SMFIP_NR_EOH, NULL, 0);
}

/* body - the body in chunks of at most CHUNK_MAX, then BODYEOB */
static enum step_result
body(struct conn *c, const char *qid)
{
	const char *b = c->b->body;
	size_t	 size = c->b->o.body_size, at, n;
	struct piece pc;
	enum step_result r;

	for (at = 0; at < size; at += n) {
		n = size - at > CHUNK_MAX ? CHUNK_MAX : size - at;
		pc.p = b + at;
		pc.n = n;
		r = step(c, SMFIC_BODY, SMFIP_NOBODY, SMFIP_NR_BODY, &pc, 1);
		if (r == STEP_SKIP)
			break;
		if (r != STEP_GO)
			return r;
	}
	if (macros_put(c, SMFIC_BODYEOB, "i", qid, (const char *)NULL) < 0 ||
	    cmd_put(c, SMFIC_BODYEOB, NULL, 0) < 0 || out_flush(c) < 0)
		return STEP_ERROR;
	return eob_replies(c);
}

/*
 * message_run - one message, from MAIL to the final reply, then ABORT
 * (buffered: it leaves with the next message's first command).  STEP_GO:
 * done; STEP_STOP: refused; STEP_ERROR: the connection is broken.
 */
static enum step_result
message_run(struct conn *c)
{
	unsigned long seq = c->seq++;
	char	 qid[32];
	enum step_result r;

	snprintf(qid, sizeof(qid), "%X%08lX", c->id, seq & 0xffffffffUL);
	c->field_seen = c->early = 0;
	added_clear(c->added, &c->nadded);
	if ((r = envelope(c, qid, seq)) == STEP_GO &&
	    (r = headers(c, qid, seq)) == STEP_GO)
		r = body(c, qid);
	if (r == STEP_ERROR)
		return r;
	if (cmd_put(c, SMFIC_ABORT, NULL, 0) < 0)
		return STEP_ERROR;
	if (r == STEP_STOP && !c->early)
		return r;		/* refused, counted by reply_judge */
	if (*c->b->o.field != '\0' && !c->field_seen) {
		c->refused++;
		if (c->first_refusal[0] == '\0')
			snprintf(c->first_refusal, sizeof(c->first_refusal),
			    "%s without a %s field", c->early ? "accepted "
			    "before BODYEOB" : "final reply", c->b->o.field);
		return STEP_STOP;
	}
	if (c->b->o.out != NULL && c->id == 0) {
		added_clear(c->last, &c->nlast);
		memcpy(c->last, c->added, sizeof(c->added));
		c->nlast = c->nadded;
		c->nadded = 0;
		c->last_seq = seq;
		c->have_last = 1;
	}
	return STEP_GO;
}

/* ---- connections ---------------------------------------------------- */

/* sock_connect_unix - a stream socket connected to path; fd or -1 */
static int
sock_connect_unix(struct conn *c, const char *path)
{
	struct sockaddr_un sun;
	int	 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));	/* length checked */
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		conn_fail(c, "connect %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* sock_connect_inet - a TCP socket connected to host:port; fd or -1 */
static int
sock_connect_inet(struct conn *c, const char *spec)
{
	char	 host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints, *res, *ai;
	int	 fd = -1, rc;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
		conn_fail(c, "inet socket %s: want inet:HOST:PORT", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		conn_fail(c, "%s: %s", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		conn_fail(c, "connect %s: %s", spec, strerror(errno));
	return fd;
}

/* sock_open - the filter's socket, with I/O timeouts; 0 or -1 */
static int
sock_open(struct conn *c)
{
	const char *s = c->b->o.sock;
	struct timeval tv = { IO_TIMEOUT_S, 0 };

	if (strncmp(s, "inet:", 5) == 0)
		c->fd = sock_connect_inet(c, s + 5);
	else
		c->fd = sock_connect_unix(c, strchr(s, '/'));
	if (c->fd < 0)
		return -1;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		bench_fatal("setsockopt: %s", strerror(errno));
	c->olen = c->ipos = c->ilen = 0;
	c->on_conn = 0;
	return 0;
}

/* optneg - offer version 6, every action and option; keep the answer */
static int
optneg(struct conn *c)
{
	uint32_t v[3] = { htonl(MILTER_VERSION), htonl(SMFIF_ALL),
	    htonl(SMFIP_ALL) };
	struct piece pc = { v, sizeof(v) };
	struct packet p;

	if (cmd_put(c, SMFIC_OPTNEG, &pc, 1) < 0 || out_flush(c) < 0 ||
	    packet_read(c, &p) < 0)
		return -1;
	if (p.cmd != SMFIR_OPTNEG || p.len < 12) {
		conn_fail(c, "reply '%c' (%zu bytes) to OPTNEG", p.cmd, p.len);
		return -1;
	}
	memcpy(v, p.data, sizeof(v));	/* macro lists after it: ignored */
	c->version = ntohl(v[0]);
	c->actions = ntohl(v[1]);
	c->proto = ntohl(v[2]);
	if (c->version < 2 || c->version > MILTER_VERSION ||
	    (c->proto & ~SMFIP_ALL) != 0) {
		conn_fail(c, "filter wants version %u, options 0x%x", c->version,
		    c->proto);
		return -1;
	}
	return 0;
}

/* session_open - connect, OPTNEG, CONNECT and HELO; 0 or -1 (refused too) */
static int
session_open(struct conn *c)
{
	static const char addr[] = "127.0.0.1";
	uint16_t port = htons(25025);
	char	 fam = '4';
	struct piece pc[4];
	enum step_result r;

	pc[0] = str("client.test");
	pc[1].p = &fam;
	pc[1].n = 1;
	pc[2].p = &port;
	pc[2].n = 2;
	pc[3] = str(addr);

	if (sock_open(c) < 0 || optneg(c) < 0)
		return -1;
	if (macros_put(c, SMFIC_CONNECT, "j", "mta.test", "{daemon_name}",
	    "milter_load", "v", "Postfix 3.7", (const char *)NULL) < 0)
		return -1;
	r = step(c, SMFIC_CONNECT, SMFIP_NOCONNECT, SMFIP_NR_CONN, pc, 4);
	if (r == STEP_GO) {
		pc[0] = str("client.test");
		r = step(c, SMFIC_HELO, SMFIP_NOHELO, SMFIP_NR_HELO, pc, 1);
	}
	if (r != STEP_GO && r != STEP_ERROR)
		conn_fail(c, "the filter did not take the connection: %s",
		    c->first_refusal);
	return r == STEP_GO ? 0 : -1;
}

/* session_close - QUIT and close, if connected */
static void
session_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	if (cmd_put(c, SMFIC_QUIT, NULL, 0) == 0)
		(void)out_flush(c);
	close(c->fd);
	c->fd = -1;
}

/* count - one message done in the measured time: its latency */
static void
count(struct conn *c, double t0, double t1)
{
	const struct bench *b = c->b;

	if (t1 < b->t_measure || t1 >= b->t_stop)
		return;
	c->done++;
	series_add(&c->lat, (t1 - t0) * 1000);
}

/* conn_run - a connection's thread: messages back to back until t_stop */
static void *
conn_run(void *arg)
{
	struct conn *c = arg;
	const struct bench *b = c->b;
	enum step_result r;
	double	 t0;

	while ((t0 = bench_now()) < b->t_stop) {
		if (c->fd < 0 && session_open(c) < 0)
			break;
		r = message_run(c);
		if (r == STEP_ERROR)
			break;
		if (r == STEP_GO)
			count(c, t0, bench_now());
		if (b->o.per_conn != 0 && ++c->on_conn >= b->o.per_conn)
			session_close(c);
	}
	session_close(c);
	return NULL;
}

/* ---- output --------------------------------------------------------- */

/* put_crlf - s to f with every bare LF as CRLF */
static void
put_crlf(FILE *f, const char *s)
{
	char	 prev = '\0';

	for (; *s != '\0'; prev = *s++) {
		if (*s == '\n' && prev != '\r')
			fputc('\r', f);
		fputc(*s, f);
	}
}

/* One header field of the message written with -o. */
struct out_field {
	const char *name;
	const char *sep;	/* ":" or ": " */
	const char *value;
};

/* field_insert - put f at position at (at most n) of fields[0..n) */
static void
field_insert(struct out_field *fields, size_t *n, size_t at,
    struct out_field f)
{
	if (at > *n)
		at = *n;
	memmove(fields + at + 1, fields + at, (*n - at) * sizeof(*fields));
	fields[at] = f;
	(*n)++;
}

/*
 * write_last - the last message done on connection 0 as the MTA would
 * pass it on: inserted fields at their index (in the order they came),
 * added ones at the end of the header, CRLF line ends.  0 or -1.
 *
 * The filter's values come without the space after the colon unless it
 * negotiated SMFIP_HDR_LEADSPC; the MTA puts one back (Postfix does).
 */
static int
write_last(const struct bench *b)
{
	const struct conn *c = &b->c[0];
	struct hfield hf[FIELDS_MAX];
	struct out_field f[FIELDS_MAX + ADDED_MAX], one;
	const char *sep = (c->proto & SMFIP_HDR_LEADSPC) ? ":" : ": ";
	size_t	 nhf, n = 0;
	FILE	*fp;

	if (!c->have_last)
		return -1;
	nhf = fields_make(hf, b->o.domain, c->last_seq, c->id);
	for (size_t i = 0; i < nhf; i++) {
		one.name = hf[i].name;
		one.sep = ":";		/* our values keep their space */
		one.value = hf[i].value;
		f[n++] = one;
	}
	for (size_t i = 0; i < c->nlast; i++) {
		one.name = c->last[i].name;
		one.sep = sep;
		one.value = c->last[i].value;
		field_insert(f, &n, c->last[i].index < 0 ? n :
		    (size_t)c->last[i].index, one);
	}
	if ((fp = fopen(b->o.out, "wb")) == NULL)
		bench_fatal("%s: %s", b->o.out, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		fprintf(fp, "%s%s", f[i].name, f[i].sep);
		put_crlf(fp, f[i].value);
		fputs("\r\n", fp);
	}
	fputs("\r\n", fp);
	fwrite(b->body, 1, b->o.body_size, fp);
	if (fclose(fp) != 0)
		bench_fatal("%s: %s", b->o.out, strerror(errno));
	return 0;
}

/* ---- the command line ----------------------------------------------- */

/* usage - how to call; exits 1 */
static void
usage(void)
{
	fprintf(stderr, "usage: milter_load -s SOCKET [-c N] [-d SECONDS] "
	    "[-w SECONDS] [-m SIZE]\n"
	    "                   [-n COUNT] [-H FIELD] [-f DOMAIN] [-o FILE]\n"
	    "  -s SOCKET   the filter: unix:/PATH, local:/PATH, /PATH or "
	    "inet:HOST:PORT\n"
	    "  -c N        connections, one thread each (default 2, at most "
	    "%d)\n"
	    "  -d SECONDS  measure this long (default 5)\n"
	    "  -w SECONDS  warm up this long first, not counted (default 1)\n"
	    "  -m SIZE     body bytes of every message (default 1024)\n"
	    "  -n COUNT    messages per milter connection (default: all)\n"
	    "  -H FIELD    a message is done when the filter adds FIELD\n"
	    "              (default DKIM-Signature; '' accepts any filter)\n"
	    "  -f DOMAIN   the From domain (default mosamuseum.com)\n"
	    "  -o FILE     write connection 0's last message, signed, "
	    "to FILE\n", CONNS_MAX);
	exit(1);
}

/* sock_check - the socket argument is one we can use */
static void
sock_check(const char *s)
{
	const char *path = strchr(s, '/');

	if (strncmp(s, "inet:", 5) == 0)
		return;
	if (path == NULL || (path != s && strncmp(s, "unix:", 5) != 0 &&
	    strncmp(s, "local:", 6) != 0) ||
	    (path != s && path != s + 5 && path != s + 6))
		bench_fatal("socket %s: want unix:/PATH, local:/PATH, /PATH or "
		    "inet:HOST:PORT", s);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		bench_fatal("socket path too long: %s", path);
}

/* parse_opts - the command line */
static void
parse_opts(struct opts *o, int argc, char **argv)
{
	int	 ch;

	memset(o, 0, sizeof(*o));
	o->conns = 2;
	o->duration = 5;
	o->warmup = 1;
	o->body_size = 1024;
	o->field = "DKIM-Signature";
	o->domain = "mosamuseum.com";
	while ((ch = getopt(argc, argv, "s:c:d:w:m:n:H:f:o:")) != -1) {
		switch (ch) {
		case 's': o->sock = optarg; break;
		case 'c': o->conns = (unsigned)bench_arg_double(optarg, 1,
		    CONNS_MAX, usage); break;
		case 'd': o->duration = bench_arg_double(optarg,
		    0.01, 86400, usage); break;
		case 'w': o->warmup = bench_arg_double(optarg,
		    0, 3600, usage); break;
		case 'm': o->body_size = (size_t)bench_arg_double(optarg,
		    BODY_MIN,
		    (double)BODY_MAX, usage); break;
		case 'n': o->per_conn = (unsigned long)bench_arg_double(optarg,
		    0,
		    1e12, usage); break;
		case 'H': o->field = optarg; break;
		case 'f': o->domain = optarg; break;
		case 'o': o->out = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || o->sock == NULL)
		usage();
	sock_check(o->sock);
	if (strlen(o->domain) > 200 || strlen(o->domain) == 0)
		bench_fatal("domain: 1 to 200 characters");
}

/* start - make the body, start every connection's thread */
static void
start(struct bench *b)
{
	b->c = calloc(b->o.conns, sizeof(*b->c));
	if (b->c == NULL)
		bench_fatal("out of memory for %u connections", b->o.conns);
	b->body = body_make(b->o.body_size);
	b->t_begin = bench_now();
	b->t_measure = b->t_begin + b->o.warmup;
	b->t_stop = b->t_measure + b->o.duration;
	for (unsigned i = 0; i < b->o.conns; i++) {
		struct conn *c = &b->c[i];

		c->b = b;
		c->id = i;
		c->fd = -1;
		c->icap = INBUF;
		if ((c->in = malloc(c->icap)) == NULL)
			bench_fatal("out of memory");
		if (pthread_create(&c->th, NULL, conn_run, c) != 0)
			bench_fatal("cannot start thread %u of %u", i + 1, b->o.conns);
	}
}

/* report - the totals, the percentiles and the result line; exit status */
static int
report(struct bench *b)
{
	struct series lat = { 0 };
	unsigned long done = 0, refused = 0, errors = 0;
	const char *why = "", *refusal = "";
	double	 rate, cpu_us;

	for (unsigned i = 0; i < b->o.conns; i++) {
		struct conn *c = &b->c[i];

		done += c->done;
		refused += c->refused;
		errors += c->errors;
		for (size_t j = 0; j < c->lat.n; j++)
			series_add(&lat, c->lat.v[j]);
		if (*why == '\0')
			why = c->first_error;
		if (*refusal == '\0')
			refusal = c->first_refusal;
	}
	if (lat.n > 0)
		series_sort(&lat);
	rate = (double)done / b->o.duration;
	cpu_us = done ? b->cpu_measured * 1e6 / (double)done : 0;
	printf("milter_load: %s, %u connection(s), %zu-byte bodies, %s, "
	    "%.2f s measured after %.1f s warm-up\n", b->o.sock, b->o.conns,
	    b->o.body_size, b->o.per_conn ? "reconnecting" : "one milter "
	    "connection each", b->o.duration, b->o.warmup);
	printf("filter    protocol version %u, actions 0x%x, options 0x%x\n",
	    b->c[0].version, b->c[0].actions, b->c[0].proto);
	printf("messages  done %lu in the measured time; refused %lu and "
	    "connection errors %lu in the whole run\n", done, refused, errors);
	if (refused > 0)
		printf("first refusal: %s\n", refusal);
	if (errors > 0)
		printf("first connection error: %s\n", why);
	printf("rate      %.1f messages/s\n", rate);
	printf("latency   p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	    series_percentile(&lat, 50), series_percentile(&lat, 90), series_percentile(&lat, 99),
	    lat.n ? lat.v[lat.n - 1] : 0);
	printf("client    %.1f us CPU per message (this process)\n", cpu_us);
	printf("result: done=%lu refused=%lu errors=%lu msgs_s=%.1f "
	    "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f secs=%.2f "
	    "client_cpu_us=%.1f\n", done, refused, errors, rate,
	    series_percentile(&lat, 50), series_percentile(&lat, 90), series_percentile(&lat, 99),
	    lat.n ? lat.v[lat.n - 1] : 0, b->o.duration, cpu_us);
	free(lat.v);
	return (refused > 0 || errors > 0 || done == 0) ? 2 : 0;
}

int
main(int argc, char **argv)
{
	struct bench *b = calloc(1, sizeof(*b));
	int	 rc;

	if (b == NULL)
		bench_fatal("out of memory");
	parse_opts(&b->o, argc, argv);
	start(b);
	bench_sleep_until(b->t_measure);
	b->cpu_measured = -bench_cpu_s();
	bench_sleep_until(b->t_stop);
	b->cpu_measured += bench_cpu_s();
	for (unsigned i = 0; i < b->o.conns; i++)
		pthread_join(b->c[i].th, NULL);
	rc = report(b);
	fflush(stdout);
	if (b->o.out != NULL && write_last(b) < 0) {
		fprintf(stderr, "milter_load: no message done on connection 0:"
		    " %s not written\n", b->o.out);
		rc = 2;
	}
	for (unsigned i = 0; i < b->o.conns; i++) {
		added_clear(b->c[i].added, &b->c[i].nadded);
		added_clear(b->c[i].last, &b->c[i].nlast);
		free(b->c[i].lat.v);
		free(b->c[i].in);
	}
	free(b->body);
	free(b->c);
	free(b);
	return rc;
}
