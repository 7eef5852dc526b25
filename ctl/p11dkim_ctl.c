/*
 * p11dkim_ctl.c - p11dkim-ctl: what an operator asks of a running
 * p11dkimd, named by its configuration (-c).
 *
 *   p11dkim-ctl [-c FILE] status       running? its institutions up/down
 *   p11dkim-ctl [-c FILE] stats        the counters (exposition text)
 *   p11dkim-ctl [-c FILE] [-t S] reload   SIGHUP, then taken or refused
 *
 * The counters come from the native socket's STATS (the first listen
 * socket), or else from the metrics listener (metrics-listen).  A reload
 * is known taken or refused by p11dkim_reloads_total{result=...}, which
 * the parent counts: the one that grows after the signal says which.
 * The pid is the pidfile's, and counts only while the daemon holds the
 * file's lock (pidfile.c) or the process is a p11dkimd.
 *
 * Exit status: 0 done (running; reload taken); 1 reload refused, or the
 * counters cannot be read; 2 no verdict on the reload in time; 3 not
 * running; 64 usage; 78 configuration.
 *
 * Security: reads what root (or a stats-allow-uids user) may read;
 * signals only the pid of a running p11dkimd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/buf.h"
#include "p11dkim/client.h"
#include "p11dkim/conf.h"

#define DEFAULT_CONF	"/etc/p11dkim/p11dkim.conf"
#define EXIT_REFUSED	1
#define EXIT_NO_VERDICT	2
#define EXIT_NOT_RUNNING 3
#define HTTP_MAX	(16 * 1024 * 1024)
#define IO_TIMEOUT_MS	10000

/* usage - the synopsis; EX_USAGE */
static int
usage(void)
{
	fprintf(stderr, "usage: p11dkim-ctl [-c FILE] [-t SECONDS] "
	    "status | stats | reload\n       p11dkim-ctl --version\n");
	return EX_USAGE;
}

/* pid_of - the pid in the pidfile, when a p11dkimd runs there; or 0 */
static long
pid_of(const char *path)
{
	char	 b[32], comm[32] = "", proc[64];
	long	 pid;
	ssize_t	 n;
	int	 fd, held;
	FILE	*f;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, b, sizeof(b) - 1);
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	b[n > 0 ? n : 0] = '\0';
	if ((pid = strtol(b, NULL, 10)) <= 0 || (kill(pid, 0) < 0 &&
	    errno != EPERM))
		return 0;
	snprintf(proc, sizeof(proc), "/proc/%ld/comm", pid);
	if ((f = fopen(proc, "re")) != NULL) {
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	return held || strncmp(comm, "p11dkimd", 8) == 0 ? pid : 0;
}

/* io_wait - fd ready for events within IO_TIMEOUT_MS? */
static int
io_wait(int fd, short events)
{
	struct pollfd p = { fd, events, 0 };

	return poll(&p, 1, IO_TIMEOUT_MS) == 1;
}

/* http_read - the whole answer of a connection into out; 0, or -1 */
static int
http_read(int fd, struct buf *out)
{
	char	 b[8192];
	ssize_t	 n;

	while (io_wait(fd, POLLIN) && (n = read(fd, b, sizeof(b))) > 0)
		if (buf_append(out, b, (size_t)n) < 0)
			return -1;
	return 0;
}

/* http_metrics - GET /metrics from the metrics listener; text or NULL */
static char *
http_metrics(const struct conf_daemon *d, char *why, size_t len)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	struct buf out;
	const char *body;
	char	*text = NULL;
	int	 fd = socket(d->metrics_addr.ss_family, SOCK_STREAM |
	    SOCK_CLOEXEC, 0);

	buf_init(&out, HTTP_MAX);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&d->metrics_addr,
	    d->metrics_addrlen) < 0 || write(fd, req, sizeof(req) - 1) !=
	    (ssize_t)(sizeof(req) - 1) || http_read(fd, &out) < 0)
		snprintf(why, len, "metrics-listen %s: %s", d->metrics_listen,
		    errno ? strerror(errno) : "no answer");
	else if (strncmp(buf_str(&out), "HTTP/1.1 200 ", 13) != 0 ||
	    (body = strstr(buf_str(&out), "\r\n\r\n")) == NULL)
		snprintf(why, len, "metrics-listen %s: %.60s",
		    d->metrics_listen, buf_str(&out));
	else if ((text = strdup(body + 4)) == NULL)
		snprintf(why, len, "out of memory");
	if (fd >= 0)
		close(fd);
	buf_release(&out);
	return text;
}

/* native_stats - STATS on the first listen socket; text or NULL */
static char *
native_stats(const char *path, char *why, size_t len)
{
	struct p11dkim_client *c = p11dkim_client_new(path);
	char	*text = NULL;

	if (c == NULL)
		snprintf(why, len, "out of memory");
	else if (p11dkim_client_stats(c, &text) != P11DKIM_CLIENT_OK)
		snprintf(why, len, "%s", p11dkim_client_reason(c));
	p11dkim_client_free(c);
	return text;
}

/* counters - the exposition text, from STATS or else /metrics; NULL */
static char *
counters(const struct conf *c, char *why, size_t len)
{
	if (c->daemon.nlisten > 0)
		return native_stats(c->daemon.listen[0].path, why, len);
	if (c->daemon.metrics_listen != NULL)
		return http_metrics(&c->daemon, why, len);
	snprintf(why, len, "%s has no listen socket and no metrics-listen",
	    c->path);
	return NULL;
}

/*
 * metric - the value of the first sample of name whose labels include
 * label (e.g. `state="up"`), whatever else they hold (front); label
 * NULL: the first sample of name; -1: none
 */
static long
metric(const char *text, const char *name, const char *label)
{
	size_t	 n = strlen(name);
	const char *line, *end, *value;

	for (line = text; line != NULL && *line != '\0'; line = end ?
	    end + 1 : NULL) {
		end = strchr(line, '\n');
		if (strncmp(line, name, n) != 0 || (line[n] != '{' &&
		    line[n] != ' ') || (value = strchr(line + n, ' ')) == NULL ||
		    (end != NULL && value > end))
			continue;
		if (label == NULL)
			return strtol(value + 1, NULL, 10);
		for (const char *l = line + n + 1; l < value; l++)
			if ((l[-1] == '{' || l[-1] == ',') &&
			    strncmp(l, label, strlen(label)) == 0)
				return strtol(value + 1, NULL, 10);
	}
	return -1;
}

/* cmd_status - running? which pid, and its institutions */
static int
cmd_status(const struct conf *c)
{
	long	 pid = c->daemon.pidfile ? pid_of(c->daemon.pidfile) : 0;
	char	 why[600];
	char	*text = counters(c, why, sizeof(why));

	if (pid == 0 && (c->daemon.pidfile != NULL || text == NULL)) {
		printf("p11dkimd is not running (%s)\n", c->daemon.pidfile ?
		    c->daemon.pidfile : why);
		free(text);
		return EXIT_NOT_RUNNING;
	}
	printf("p11dkimd is running");
	if (pid > 0)
		printf(" (pid %ld)", pid);
	if (text == NULL) {
		printf("; its counters cannot be read: %s\n", why);
		return EXIT_REFUSED;
	}
	printf("; institutions: %ld up, %ld down, %ld pending; "
	    "configuration generation %ld\n",
	    metric(text, "p11dkim_institutions", "state=\"up\""),
	    metric(text, "p11dkim_institutions", "state=\"down\""),
	    metric(text, "p11dkim_institutions", "state=\"pending\""),
	    metric(text, "p11dkim_config_generation", NULL));
	free(text);
	return EX_OK;
}

/* cmd_stats - the exposition text on stdout */
static int
cmd_stats(const struct conf *c)
{
	char	 why[600];
	char	*text = counters(c, why, sizeof(why));

	if (text == NULL) {
		fprintf(stderr, "p11dkim-ctl: %s\n", why);
		return EXIT_REFUSED;
	}
	fputs(text, stdout);
	free(text);
	return EX_OK;
}

/* reloads - reloads taken ([1]) and refused ([0]) so far; 0, or -1 */
static int
reloads(const struct conf *c, long n[2], char *why, size_t len)
{
	char	*text = counters(c, why, len);

	if (text == NULL)
		return -1;
	n[1] = metric(text, "p11dkim_reloads_total", "result=\"success\"");
	n[0] = metric(text, "p11dkim_reloads_total", "result=\"failure\"");
	free(text);
	if (n[0] < 0 || n[1] < 0) {
		snprintf(why, len, "no p11dkim_reloads_total in the counters");
		return -1;
	}
	return 0;
}

/*
 * cmd_reload - SIGHUP to the pidfile's p11dkimd, then wait (up to
 * seconds) until its reload counters say taken or refused
 */
static int
cmd_reload(const struct conf *c, unsigned seconds)
{
	long	 pid, before[2], now[2];
	char	 why[600];
	time_t	 until = time(NULL) + seconds;

	if (c->daemon.pidfile == NULL) {
		fprintf(stderr, "p11dkim-ctl: %s sets no pidfile: which process "
		    "to signal is not known\n", c->path);
		return EX_CONFIG;
	}
	if ((pid = pid_of(c->daemon.pidfile)) == 0) {
		printf("p11dkimd is not running (%s)\n", c->daemon.pidfile);
		return EXIT_NOT_RUNNING;
	}
	if (reloads(c, before, why, sizeof(why)) < 0) {
		fprintf(stderr, "p11dkim-ctl: %s\n", why);
		return EXIT_REFUSED;
	}
	if (kill(pid, SIGHUP) < 0) {
		fprintf(stderr, "p11dkim-ctl: kill %ld: %s\n", pid,
		    strerror(errno));
		return EXIT_REFUSED;
	}
	while (time(NULL) <= until) {
		usleep(100000);
		if (reloads(c, now, why, sizeof(why)) < 0)
			continue;	/* fronts changing over */
		if (now[1] > before[1]) {
			printf("reload taken (pid %ld)\n", pid);
			return EX_OK;
		}
		if (now[0] > before[0]) {
			printf("reload refused: the running configuration stays; "
			    "the reason is in p11dkimd's log\n");
			return EXIT_REFUSED;
		}
	}
	printf("no verdict on the reload within %u s\n", seconds);
	return EXIT_NO_VERDICT;
}

/* seconds_arg - -t: 1 to 3600 seconds; 0 when bad */
static unsigned
seconds_arg(const char *s)
{
	char	*end;
	unsigned long n = strtoul(s, &end, 10);

	return *end == '\0' && n >= 1 && n <= 3600 ? (unsigned)n : 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = DEFAULT_CONF;
	unsigned seconds = 60;
	char	 err[CONF_ERR_MAX];
	struct conf *c;
	int	 opt, rc;

	while ((opt = getopt_long(argc, argv, "c:t:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'V':
			printf("p11dkim-ctl %s\n", P11DKIM_VERSION);
			return EX_OK;
		case 'c': path = optarg; break;
		case 't':
			if ((seconds = seconds_arg(optarg)) == 0)
				return usage();
			break;
		default: return usage();
		}
	}
	if (optind + 1 != argc)
		return usage();
	if ((c = conf_load(path, err, sizeof(err))) == NULL) {
		/* p11dkimd reads the same file with the same code. */
		fprintf(stderr, "p11dkim-ctl: %s\n", err);
		if (strcmp(argv[optind], "reload") == 0)
			printf("reload refused: p11dkimd would refuse this "
			    "file too; not signalled\n");
		return strcmp(argv[optind], "reload") == 0 ? EXIT_REFUSED :
		    EX_CONFIG;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[optind], "status") == 0)
		rc = cmd_status(c);
	else if (strcmp(argv[optind], "stats") == 0)
		rc = cmd_stats(c);
	else if (strcmp(argv[optind], "reload") == 0)
		rc = cmd_reload(c, seconds);
	else
		rc = usage();
	conf_free(c);
	return rc;
}
