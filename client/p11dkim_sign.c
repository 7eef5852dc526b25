/*
 * p11dkim_sign.c - p11dkim-sign: have p11dkimd sign one message.
 *
 *	p11dkim-sign [-s SOCKET] [-d DOMAIN] [-t TIMEOUT] [FILE]
 *	p11dkim-sign --version
 *
 * Reads an RFC 5322 message from FILE or standard input and streams it
 * to the daemon as it is read.  On OK it writes the DKIM-Signature header
 * field(s), then the message byte for byte, to standard output.  The
 * fields get the message's line endings: LF when its first line ends in
 * LF without CR, else CRLF as the daemon sent them.
 *
 * Nothing reaches standard output before the daemon's OK, so a failure
 * leaves it empty.  Meanwhile the message is not held in memory: it is
 * read again from FILE (or from standard input when that is a regular
 * file), or else kept in an unlinked temporary file in $TMPDIR (/tmp),
 * mode 0600, gone when the program ends.
 *
 * The exit status follows sysexits.h so that an MTA's pipe transport can
 * tell "retry later" from "bounce" (see docs/p11dkim-sign.md); the reason
 * is one line on standard error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "p11dkim/client.h"

#define IO_CHUNK	(64 * 1024)
#define TIMEOUT_S_MAX	86400u
#define SPOOL_TEMPLATE	"p11dkim-sign.XXXXXX"

enum line_ending { EOL_UNKNOWN = 0, EOL_CRLF, EOL_LF };

struct options {
	const char *socket;	/* NULL: the library's default */
	const char *domain;	/* NULL: the daemon uses From */
	unsigned int timeout_s;	/* 0: the library's defaults */
	const char *file;	/* NULL: standard input */
	int	 version;	/* --version: print it, do nothing else */
};

struct input {
	const char *name;	/* for messages */
	int	 fd;
	int	 spool;		/* unlinked copy, or -1: read fd again */
	off_t	 start;		/* where the message starts in fd */
	struct stat st;		/* fd when it was opened */
	off_t	 size;		/* bytes read and sent */
	enum line_ending eol;	/* of the first line */
	int	 last_cr;	/* the last byte read was CR */
};

static char iobuf[IO_CHUNK];

/* complain - one line on standard error: "p11dkim-sign: ..." */
static void
complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
complain(const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;

	va_start(ap, fmt);
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		snprintf(line, sizeof(line), "(message lost)");
	va_end(ap);
	fprintf(stderr, "p11dkim-sign: %s\n", line);
}

/* usage - why, and the synopsis, on one line; EX_USAGE */
static int
usage(const char *why)
{
	complain("%s; usage: p11dkim-sign [-s SOCKET] [-d DOMAIN] "
	    "[-t TIMEOUT] [FILE]", why);
	return EX_USAGE;
}

/* parse_seconds - a timeout of 1 to TIMEOUT_S_MAX seconds; 0 or -1 */
static int
parse_seconds(const char *s, unsigned int *out)
{
	char	*end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > TIMEOUT_S_MAX)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/*
 * option_problem - "-X: WHAT" for the option getopt stopped at, or
 * "--NAME: WHAT" for a long one (optopt 0; argv[optind - 1] is it)
 */
static const char *
option_problem(char **argv, const char *what)
{
	static char text[128];

	if (optopt == 0 && optind > 0 && strncmp(argv[optind - 1], "--", 2)
	    == 0)
		snprintf(text, sizeof(text), "%.64s: %s", argv[optind - 1],
		    what);
	else
		snprintf(text, sizeof(text), "-%c: %s",
		    optopt > 32 && optopt < 127 ? optopt : '?', what);
	return text;
}

/* parse_options - the command line into opt; 0 or EX_USAGE */
static int
parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	memset(opt, 0, sizeof(*opt));
	opterr = 0;		/* one line of ours instead */
	while ((ch = getopt_long(argc, argv, ":s:d:t:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'V':
			opt->version = 1;
			return 0;
		case 's':
			opt->socket = optarg;
			break;
		case 'd':
			opt->domain = optarg;
			break;
		case 't':
			if (parse_seconds(optarg, &opt->timeout_s) == -1)
				return usage("-t: a number of seconds, 1 to "
				    "86400");
			break;
		case ':':
			return usage(option_problem(argv, "needs an argument"));
		default:
			return usage(option_problem(argv, "unknown option"));
		}
	}
	if (argc - optind > 1)
		return usage("at most one FILE");
	if (argc - optind == 1 && strcmp(argv[optind], "-") != 0)
		opt->file = argv[optind];
	return 0;
}

/* spool_mkstemp - an unlinked file in dir, for lack of O_TMPFILE */
static int
spool_mkstemp(const char *dir)
{
	char	 path[4096];
	int	 fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_TEMPLATE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) != -1)
		(void)unlink(path);
	return fd;
}

/* spool_open - an unlinked file in $TMPDIR (/tmp); fd or -1 */
static int
spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	int	 fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1 && (errno == EOPNOTSUPP || errno == EISDIR ||
	    errno == EINVAL))
		fd = spool_mkstemp(dir);	/* no O_TMPFILE there */
	if (fd == -1)
		complain("spool file in %s: %s", dir, strerror(errno));
	return fd;
}

/* input_open - FILE or standard input; re-readable, or spooled; 0 or EX_ */
static int
input_open(struct input *in, const char *file)
{
	memset(in, 0, sizeof(*in));
	in->spool = -1;
	in->name = file != NULL ? file : "standard input";
	in->fd = file != NULL ? open(file, O_RDONLY | O_CLOEXEC) : 0;
	if (in->fd == -1 || fstat(in->fd, &in->st) == -1) {
		complain("%s: %s", in->name, strerror(errno));
		return EX_IOERR;
	}
	/* A regular file can be read again: no copy needed. */
	if (S_ISREG(in->st.st_mode) &&
	    (in->start = lseek(in->fd, 0, SEEK_CUR)) != -1)
		return 0;
	in->start = 0;
	return (in->spool = spool_open()) == -1 ? EX_TEMPFAIL : 0;
}

/* input_close - close what input_open opened */
static void
input_close(struct input *in, const char *file)
{
	if (in->spool != -1)
		(void)close(in->spool);
	if (file != NULL && in->fd != -1)
		(void)close(in->fd);
}

/* note_line_ending - learn the first line's ending from the next bytes */
static void
note_line_ending(struct input *in, const char *buf, size_t n)
{
	const char *lf;
	int	 cr;

	if (in->eol != EOL_UNKNOWN || n == 0)
		return;
	if ((lf = memchr(buf, '\n', n)) == NULL) {
		in->last_cr = buf[n - 1] == '\r';
		return;
	}
	cr = lf > buf ? lf[-1] == '\r' : in->last_cr;
	in->eol = cr ? EOL_CRLF : EOL_LF;
}

/* write_all - all n bytes to fd; 0 or -1 with errno */
static int
write_all(int fd, const char *buf, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		w = write(fd, buf, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * input_send - read the message, spool it, send it; 0 when it was all
 * sent or the daemon decided early (end() tells), else an EX_ status
 */
static int
input_send(struct input *in, struct p11dkim_client *c)
{
	ssize_t	 n;

	for (;;) {
		n = read(in->fd, iobuf, sizeof(iobuf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			complain("read %s: %s", in->name, strerror(errno));
			return EX_IOERR;
		}
		if (n == 0)
			return 0;
		note_line_ending(in, iobuf, (size_t)n);
		if (in->spool != -1 &&
		    write_all(in->spool, iobuf, (size_t)n) == -1) {
			complain("spool file: %s", strerror(errno));
			return EX_TEMPFAIL;	/* a full /tmp: retry later */
		}
		in->size += n;
		if (p11dkim_client_write(c, iobuf, (size_t)n) !=
		    P11DKIM_CLIENT_OK)
			return 0;
	}
}

/* input_unchanged - a re-read file is as it was when sent; 0 or EX_ */
static int
input_unchanged(const struct input *in)
{
	struct stat now;

	if (in->spool != -1)
		return 0;
	if (fstat(in->fd, &now) == -1) {
		complain("%s: %s", in->name, strerror(errno));
		return EX_IOERR;
	}
	if (now.st_size != in->st.st_size || now.st_ino != in->st.st_ino ||
	    now.st_mtim.tv_sec != in->st.st_mtim.tv_sec ||
	    now.st_mtim.tv_nsec != in->st.st_mtim.tv_nsec) {
		complain("%s changed while it was being signed", in->name);
		return EX_TEMPFAIL;
	}
	return 0;
}

/* verdict_exit - say why, and map the verdict to a sysexits.h status */
static int
verdict_exit(const struct p11dkim_client_result *r, const char *path)
{
	switch (r->status) {
	case P11DKIM_CLIENT_OK:
		return 0;
	case P11DKIM_CLIENT_PERMFAIL:
		complain("PERMFAIL from p11dkimd at %s: %s", path, r->reason);
		return p11dkim_client_not_authorized(r) ? EX_NOPERM :
		    EX_DATAERR;
	case P11DKIM_CLIENT_TEMPFAIL:
		if (r->from_daemon)
			complain("TEMPFAIL from p11dkimd at %s: %s", path,
			    r->reason);
		else
			complain("TEMPFAIL: %s", r->reason);
		return EX_TEMPFAIL;
	case P11DKIM_CLIENT_USAGE:
		break;
	}
	complain("%s", r->reason);
	return EX_USAGE;
}

/* output_fields - the signature, CRs dropped for an LF message; 0 or EX_ */
static int
output_fields(const char *fields, size_t len, enum line_ending eol)
{
	const char *p = fields, *end = fields + len, *cr;

	/* The library checked: every CR in fields starts a CRLF. */
	while (p < end) {
		cr = eol == EOL_LF ? memchr(p, '\r', (size_t)(end - p)) : NULL;
		if (cr == NULL)
			cr = end;
		if (write_all(STDOUT_FILENO, p, (size_t)(cr - p)) == -1) {
			complain("write to standard output: %s",
			    strerror(errno));
			return EX_IOERR;
		}
		p = cr + 1;
	}
	return 0;
}

/* output_message - copy the sent message (spool or file) to stdout */
static int
output_message(const struct input *in)
{
	int	 fd = in->spool != -1 ? in->spool : in->fd;
	off_t	 left = in->size;
	ssize_t	 n;

	if (lseek(fd, in->spool != -1 ? 0 : in->start, SEEK_SET) == -1) {
		complain("rewind %s: %s", in->name, strerror(errno));
		return EX_IOERR;
	}
	while (left > 0) {
		n = read(fd, iobuf, left < IO_CHUNK ? (size_t)left : IO_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			complain("read %s again: %s", in->name, n == 0 ?
			    "shorter than before" : strerror(errno));
			return EX_IOERR;
		}
		if (write_all(STDOUT_FILENO, iobuf, (size_t)n) == -1) {
			complain("write to standard output: %s",
			    strerror(errno));
			return EX_IOERR;
		}
		left -= n;
	}
	return 0;
}

/* output_signed - fields, then the message; stdout closed; 0 or EX_ */
static int
output_signed(const struct input *in, const struct p11dkim_client_result *r)
{
	int	 rc;

	if ((rc = input_unchanged(in)) != 0 ||
	    (rc = output_fields(r->fields, r->fields_len, in->eol)) != 0 ||
	    (rc = output_message(in)) != 0)
		return rc;
	if (close(STDOUT_FILENO) == -1) {
		complain("write to standard output: %s", strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

/*
 * std_fds_hold - take fds 0 to 2 with /dev/null where they are closed,
 * so that no file opened later lands there (a spool file on fd 1 would
 * receive the output); closed[] says which were; 0 or -1.
 */
static int
std_fds_hold(int closed[3])
{
	int	 fd;

	for (fd = 0; fd < 3; fd++) {
		closed[fd] = fcntl(fd, F_GETFD) == -1 && errno == EBADF;
		/* The lowest free descriptor is fd: those below are taken. */
		if (closed[fd] && open("/dev/null", O_RDWR) != fd)
			return -1;
	}
	return 0;
}

/* client_open - a client for the socket with the timeouts; NULL: said why */
static struct p11dkim_client *
client_open(const struct options *opt, int *rc)
{
	struct p11dkim_client *c;
	unsigned int ms = opt->timeout_s * 1000u;

	if ((c = p11dkim_client_new(opt->socket)) == NULL) {
		*rc = errno == ENOMEM ? EX_TEMPFAIL : EX_USAGE;
		complain("socket %s: %s", opt->socket != NULL ? opt->socket :
		    p11dkim_client_default_socket(), strerror(errno));
		return NULL;
	}
	if (ms != 0 && p11dkim_client_set_timeouts(c, ms, ms) !=
	    P11DKIM_CLIENT_OK) {
		*rc = EX_USAGE;
		complain("%s", p11dkim_client_reason(c));
		return p11dkim_client_free(c);
	}
	return c;
}

/* sign - send the message, then output it signed; an EX_ status or 0 */
static int
sign(const struct options *opt, struct input *in)
{
	struct p11dkim_client *c;
	struct p11dkim_client_result r;
	int	 rc = 0;

	if ((c = client_open(opt, &rc)) == NULL)
		return rc;
	if (p11dkim_client_begin(c, opt->domain) == P11DKIM_CLIENT_OK)
		rc = input_send(in, c);
	if (rc == 0) {
		(void)p11dkim_client_end(c, &r);
		rc = verdict_exit(&r, opt->socket != NULL ? opt->socket :
		    p11dkim_client_default_socket());
		if (rc == 0)
			rc = output_signed(in, &r);
		p11dkim_client_result_release(&r);
	}
	p11dkim_client_free(c);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options opt;
	struct input in;
	int	 closed[3], rc;

	/* A reader that goes away is a write error, not a silent death. */
	(void)signal(SIGPIPE, SIG_IGN);
	if (std_fds_hold(closed) == -1)
		return EX_OSERR;
	if ((rc = parse_options(argc, argv, &opt)) != 0)
		return rc;
	if (opt.version) {
		printf("p11dkim-sign %s\n", P11DKIM_VERSION);
		return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
	}
	if (closed[1] || (closed[0] && opt.file == NULL)) {
		complain("standard %s is closed", closed[1] ? "output" :
		    "input");
		return EX_IOERR;
	}
	if ((rc = input_open(&in, opt.file)) == 0)
		rc = sign(&opt, &in);
	input_close(&in, opt.file);
	return rc;
}
