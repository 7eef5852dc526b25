/*
 * log.c - syslog or stderr, one line per event (see include/p11dkim/log.h).
 *
 * Security: every line is escaped where it is built (escape()), so text
 * a client chose cannot split, forge or colour a log line.
 *
 * syslog(3) drops lines without a word when nothing listens on /dev/log
 * (a container, a chroot, journald gone): log_open() tries the socket
 * first and falls back to stderr, saying so, rather than start blind.
 */
#include <errno.h>
#include <paths.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/log.h"

static const char *log_ident = "p11dkimd";
static int log_stderr = 1;

/*
 * syslog_reachable - does the syslog socket take a connection, as the C
 * library makes it (datagram, else stream)?  0, or -1 with errno set
 */
static int
syslog_reachable(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_un sun;
	int	 fd, rc = -1, saved = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", _PATH_LOG);
	for (size_t i = 0; i < 2 && rc < 0; i++) {
		if ((fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
		saved = errno;
		close(fd);
	}
	errno = saved;
	return rc;
}

/*
 * log_open - where to log, and the program's name for each line; syslog
 * falls back to stderr when its socket cannot be reached
 */
int
log_open(const char *ident, int to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	if (to_stderr)
		return 1;
	if (syslog_reachable() < 0) {
		log_stderr = 1;
		log_warn("syslog: cannot reach %s (%s): logging to standard "
		    "error instead", _PATH_LOG, strerror(errno));
		return 1;
	}
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	return 0;
}

/* log_is_stderr - do lines go to stderr (asked for, or fallen back)? */
int
log_is_stderr(void)
{
	return log_stderr;
}

/*
 * escape - the line as it may be shown: control bytes and DEL become
 * \xNN, a backslash \\.  Arguments carry text from clients (a domain,
 * a host name, a login): escaped here, it can neither split a line nor
 * forge one nor drive a terminal, whichever caller forgot.  A line too
 * long for out is cut and ends in "...".
 */
static void
escape(const char *in, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t	 n = 0, need;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		need = c < 0x20 || c == 0x7f ? 4 : c == '\\' ? 2 : 1;
		if (n + need + 4 > len) {	/* room for "..." and NUL */
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		if (need == 1) {
			out[n++] = (char)c;
			continue;
		}
		out[n++] = '\\';
		if (need == 2) {
			out[n++] = '\\';
			continue;
		}
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	}
	out[n] = '\0';
}

/*
 * vlog - one line at a priority.  On stderr the line is made whole and
 * written with one write(2): threads never wait for each other's writes
 * (stdio would hold its lock across the system call) and lines never mix.
 */
static void
vlog(int prio, const char *tag, const char *fmt, va_list ap)
{
	char	 raw[1024], line[2048], stamp[32], out[sizeof(line) + 128];
	time_t	 now = time(NULL);
	struct tm tm;
	int	 n;

	if (vsnprintf(raw, sizeof(raw), fmt, ap) < 0)
		return;
	escape(raw, line, sizeof(line));
	if (!log_stderr) {
		syslog(prio, "%s%s", tag, line);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(out, sizeof(out), "%s %s[%ld]: %s%s\n", stamp, log_ident,
	    (long)getpid(), tag, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out)) {
		n = sizeof(out) - 1;
		out[n - 1] = '\n';
	}
	while (write(STDERR_FILENO, out, (size_t)n) < 0 && errno == EINTR)
		;
}

/* log_info - a normal event */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

/* log_warn - something refused or retried */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

/* log_err - something broken that needs a person */
void
log_err(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, "error: ", fmt, ap);
	va_end(ap);
}
