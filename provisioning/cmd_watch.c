/*
 * cmd_watch.c - p11dkim-keys dns-watch: check, away from the signing
 * path, that every live institution's DNS still shows what check-dns
 * --promote confirmed: its CNAMEs to our records and, at its active
 * selector, the key the ceremony log recorded.  Run once (a systemd
 * timer) or every --every seconds.
 *
 * Drift is logged (stderr: the journal under systemd), written as
 * p11dkim_dns_drift{institution,reason} to a Prometheus textfile (for
 * node_exporter's textfile collector; written atomically), and recorded
 * in the institution's state (drift-since, drift-reason).  With
 * --demote-after, drift that lasts that long demotes the institution to
 * pending (logged in the ceremony log as dns-watch-demote); a failed
 * lookup is never drift, so a resolver outage demotes nobody.
 *
 * Queries are paced (--rate a second, spread over --spread seconds if
 * that is slower) with at most --concurrency lookups at once; the
 * PKCS#11 module is never loaded.  SIGTERM ends a run after the
 * institutions being checked: what was not checked is left as it was.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11dkim/atomic_file.h"
#include "watch_int.h"

#define WATCH_USAGE	"usage: dns-watch [--rate QPS] [--concurrency N] " \
	"[--spread SECONDS] [--metrics FILE] [--demote-after SECONDS] " \
	"[--every SECONDS]"
#define METRICS_MAX	(64 * 1024 * 1024)

struct watch_opts {
	double	 rate;			/* queries a second */
	unsigned threads;
	long long spread, grace, every;	/* seconds; 0: none */
	const char *metrics;		/* textfile path, or NULL */
};

static volatile sig_atomic_t watch_stop;

/* on_stop - SIGTERM, SIGINT: check no further institution, then end */
static void
on_stop(int sig)
{
	(void)sig;
	watch_stop = 1;
}

/* number - a whole number of seconds (or a count) in [min, max] */
static int
number(const char *s, long long min, long long max, long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || *end || end == s || *out < min || *out > max ? -1 : 0;
}

/* parse_opts - the command's options into o */
static int
parse_opts(int argc, char **argv, struct watch_opts *o)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "spread", required_argument, NULL, 's' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "demote-after", required_argument, NULL, 'd' },
		{ "every", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	long long v = 0;
	int	 c, bad = 0;

	*o = (struct watch_opts){ 20, 4, 0, 0, 0, NULL };
	keys_getopt_reset();
	while (!bad && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'm') {
			o->metrics = optarg;
			continue;
		}
		bad = c == '?' || number(optarg, c == 'r' || c == 'c' ? 1 : 0,
		    c == 'c' ? 64 : 100000000, &v) < 0;
		if (c == 'r')
			o->rate = (double)v;
		else if (c == 'c')
			o->threads = (unsigned)v;
		else if (c == 's')
			o->spread = v;
		else if (c == 'd')
			o->grace = v;
		else if (c == 'e')
			o->every = v;
	}
	if (bad || optind != argc)
		return keys_fail(EX_USAGE, "%s (rate 1 or more, concurrency 1 "
		    "to 64, seconds 0 or more)", WATCH_USAGE);
	return EX_OK;
}

/* live_items - the live institutions, with their state */
static int
live_items(struct watch *w, char *err, size_t errlen)
{
	struct conf *c = w->r->conf;

	if ((w->items = calloc(c->ninst + 1, sizeof(*w->items))) == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	for (size_t i = 0; i < c->ninst; i++) {
		struct watch_item *it = &w->items[w->n];

		if (rotation_state_load(c, &c->inst[i], &it->rs, err,
		    errlen) < 0)
			return -1;
		if (it->rs.onboard == ONBOARD_LIVE) {
			it->inst = &c->inst[i];
			w->n++;
		}
	}
	return 0;
}

/* demote - drift outlasted the grace period: pending, logged */
static void
demote(struct keys_run *r, const struct watch_item *it,
    const struct rotation_state *old, const struct rotation_state *rs)
{
	r->inst = it->inst;
	if (keys_ready(r, 1) != EX_OK || keys_state_save(r, old, rs,
	    "dns-watch-demote", rs->active, "") != EX_OK)
		return;		/* printed */
	fprintf(stderr, "p11dkim-keys: dns-watch: %s demoted to pending: "
	    "%s since %lld; reload the daemon\n", it->inst->code,
	    rs->drift_reason, rs->drift_since);
}

/*
 * apply - what the finding does to the institution's state, read again
 * now (a ceremony may have changed it during the run)
 */
static void
apply(struct keys_run *r, const struct watch_item *it, long long now,
    long long grace)
{
	struct rotation_state old, rs;
	char	 err[KEYS_WHY_MAX];

	if (rotation_state_load(r->conf, it->inst, &old, err, sizeof(err)) <
	    0) {
		keys_fail(EX_CONFIG, "dns-watch: %s", err);
		return;
	}
	if (!it->checked || old.onboard != ONBOARD_LIVE)
		return;
	rs = old;
	switch (watch_decide(&rs, it->drift, now, grace)) {
	case WATCH_KEEP:
		return;
	case WATCH_DEMOTE:
		demote(r, it, &old, &rs);
		return;
	default:
		if (rotation_state_save(r->conf, it->inst, &rs, err,
		    sizeof(err)) < 0)
			keys_fail(EX_IOERR, "dns-watch: %s", err);
	}
}

/* report - a line per institution that drifts; how many do */
static size_t
report(const struct watch *w)
{
	size_t	 bad = 0;

	for (size_t i = 0; i < w->n; i++) {
		const struct watch_item *it = &w->items[i];

		if (it->drift == WATCH_OK)
			continue;
		bad += it->drift != WATCH_LOOKUP_FAILED;
		fprintf(stderr, "p11dkim-keys: dns-watch: %s: %s: %s\n",
		    it->inst->code, watch_drift_name(it->drift), it->detail);
	}
	return bad;
}

/* write_metrics - the textfile, atomically */
static int
write_metrics(const struct watch *w, const char *path, double seconds)
{
	struct buf out;
	char	 err[KEYS_WHY_MAX];
	int	 rc;

	buf_init(&out, METRICS_MAX);
	rc = watch_metrics(w, (long long)time(NULL), seconds, &out);
	if (rc == 0)
		rc = atomic_file_write(path, buf_str(&out), out.len, 0644, err,
		    sizeof(err));
	else
		snprintf(err, sizeof(err), "%s: metrics too large", path);
	buf_release(&out);
	return rc < 0 ? keys_fail(EX_IOERR, "dns-watch: %s", err) : EX_OK;
}

/* watch_free - what one run allocated */
static void
watch_free(struct watch *w)
{
	free(w->items);
	free(w->keys);
	strmap_free(w->by_name);
	pthread_mutex_destroy(&w->mu);
}

/* elapsed - seconds since start */
static double
elapsed(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	    (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* watch_run - one pass over every live institution */
static int
watch_run(struct keys_run *r, const struct watch_opts *o)
{
	struct watch w;
	struct timespec start;
	char	 err[KEYS_WHY_MAX];
	size_t	 bad;
	int	 st = EX_OK;

	memset(&w, 0, sizeof(w));
	w.r = r;
	w.threads = o->threads;
	w.stop = &watch_stop;
	pthread_mutex_init(&w.mu, NULL);
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (live_items(&w, err, sizeof(err)) < 0 ||
	    watch_keys_load(&w, err, sizeof(err)) < 0) {
		watch_free(&w);
		return keys_fail(EX_DATAERR, "dns-watch: %s", err);
	}
	w.interval_ns = watch_interval_ns(o->rate, o->spread,
	    watch_queries(&w));
	if (watch_check_all(&w, err, sizeof(err)) < 0)
		st = keys_fail(EX_OSERR, "dns-watch: %s", err);
	bad = report(&w);
	for (size_t i = 0; st == EX_OK && i < w.n; i++)
		apply(r, &w.items[i], (long long)time(NULL), o->grace);
	if (st == EX_OK && o->metrics != NULL)
		st = write_metrics(&w, o->metrics, elapsed(&start));
	printf("dns-watch: %zu live institution(s), %zu drifting, %lu "
	    "queries in %.1f s\n", w.n, bad, w.queries, elapsed(&start));
	fflush(stdout);
	watch_free(&w);
	return st != EX_OK ? st : bad ? EX_CHECK_FAILED : EX_OK;
}

/* cmd_dns_watch - p11dkim-keys dns-watch [options] */
int
cmd_dns_watch(struct keys_run *r, int argc, char **argv)
{
	struct watch_opts o;
	struct timespec start;
	struct sigaction sa;
	double	 left;
	int	 st;

	if ((st = parse_opts(argc, argv, &o)) != EX_OK)
		return st;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	do {
		clock_gettime(CLOCK_MONOTONIC, &start);
		st = watch_run(r, &o);
		while (o.every > 0 && !watch_stop &&
		    (left = (double)o.every - elapsed(&start)) > 0) {
			struct timespec nap = { (time_t)(left > 1 ? 1 : 0),
			    left > 1 ? 0 : (long)(left * 1e9) };

			nanosleep(&nap, NULL);
		}
	} while (o.every > 0 && !watch_stop);
	return st;
}
