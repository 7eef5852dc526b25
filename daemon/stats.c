/*
 * stats.c - counters and a latency histogram (see include/p11dkim/stats.h).
 *
 * A front's counters may live in memory shared with the parent's other
 * children (stats_new_shared): the parent maps them before it starts the
 * fronts, so that the native front can show the milter front's counters
 * in one scrape of the metrics listener.  Their lock is then a robust
 * process-shared mutex: a front killed while it holds it leaves it to the
 * next locker, never locked for good.
 *
 * Security: a shared page holds counters only, never a key, a PIN or a
 * pointer a reader would follow in another process (the conf pointer is
 * the parent's, the same in every child it forked).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <stdint.h>
#include <string.h>

#include "p11dkim/stats.h"

static const double bounds_ms[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500,
	1000, 5000 };
#define NBOUNDS	(sizeof(bounds_ms) / sizeof(bounds_ms[0]))
#define LABEL_MAX	40

struct stats {
	pthread_mutex_t mu;
	const struct conf *conf;
	const struct stats_daemon *daemon;	/* NULL: none */
	char	 front[16];		/* the value of the front label */
	size_t	 map_len;		/* shared: its mapping; 0: malloc */
	unsigned long (*per_inst)[3];	/* [institution + 1][result] */
	unsigned long *token_errors;	/* [institution + 1] */
	unsigned long *trail_failures;	/* [institution + 1] */
	unsigned long busy;
	unsigned long uid_limit;
	unsigned long buckets[NBOUNDS + 1];
	double	 sum_ms;
	unsigned long count;
};

/* The parent's own figures, in a page shared with its children. */
struct stats_daemon {
	unsigned long reloads[2];	/* [0] refused, [1] taken */
};

static const char *build_version = "unknown";

/* stats_init - the lock and the label of a zeroed struct */
static void
stats_init(struct stats *s, const struct conf *c, const char *front,
    const struct stats_daemon *d, int shared)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (shared)
		pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&s->mu, &attr);
	pthread_mutexattr_destroy(&attr);
	s->conf = c;
	s->daemon = d;
	snprintf(s->front, sizeof(s->front), "%s", front);
}

/* stats_new - counters for the institutions of c, labelled front */
struct stats *
stats_new(const struct conf *c, const char *front)
{
	struct stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->per_inst = calloc(c->ninst + 1, sizeof(*s->per_inst));
	s->token_errors = calloc(c->ninst + 1, sizeof(*s->token_errors));
	s->trail_failures = calloc(c->ninst + 1, sizeof(*s->trail_failures));
	if (s->per_inst == NULL || s->token_errors == NULL ||
	    s->trail_failures == NULL)
		return stats_free(s);
	stats_init(s, c, front, NULL, 0);
	return s;
}

/*
 * stats_new_shared - the same in one shared anonymous mapping, which
 * the children forked from now on see; d: the parent's figures, or NULL
 */
struct stats *
stats_new_shared(const struct conf *c, const char *front,
    const struct stats_daemon *d)
{
	size_t	 head = (sizeof(struct stats) + 15) & ~(size_t)15;
	size_t	 rows = (c->ninst + 1) * sizeof(unsigned long);
	size_t	 len = head + 5 * rows;
	unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct stats *s = (struct stats *)(void *)m;

	if (m == MAP_FAILED)
		return NULL;
	s->map_len = len;
	s->per_inst = (unsigned long (*)[3])(void *)(m + head);
	s->token_errors = (unsigned long *)(void *)(m + head + 3 * rows);
	s->trail_failures = (unsigned long *)(void *)(m + head + 4 * rows);
	stats_init(s, c, front, d, 1);
	return s;
}

/* lock - the counters' lock, taken over from a front that died with it */
static void
lock(struct stats *s)
{
	if (pthread_mutex_lock(&s->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&s->mu);
}

/* stats_daemon_new - the parent's figures, shared with its children */
struct stats_daemon *
stats_daemon_new(void)
{
	void	*m = mmap(NULL, sizeof(struct stats_daemon), PROT_READ |
	    PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

/* stats_daemon_reload - a reload was taken (ok) or refused */
void
stats_daemon_reload(struct stats_daemon *d, int ok)
{
	if (d != NULL)
		__atomic_add_fetch(&d->reloads[ok != 0], 1, __ATOMIC_RELEASE);
}

/* stats_daemon_free - NULL is fine; returns NULL */
struct stats_daemon *
stats_daemon_free(struct stats_daemon *d)
{
	if (d != NULL)
		munmap(d, sizeof(*d));
	return NULL;
}

/* stats_set_version - the version p11dkim_build_info shows */
void
stats_set_version(const char *version)
{
	build_version = version;
}

/* stats_request - one request: institution index or -1, result, time */
void
stats_request(struct stats *s, int inst, enum stats_result r, double ms)
{
	size_t	 b = 0;

	while (b < NBOUNDS && ms > bounds_ms[b])
		b++;
	lock(s);
	s->per_inst[inst + 1][r]++;
	s->buckets[b]++;
	s->sum_ms += ms;
	s->count++;
	pthread_mutex_unlock(&s->mu);
}

/* stats_token_error - a temporary failure from the signer */
void
stats_token_error(struct stats *s, int inst)
{
	lock(s);
	s->token_errors[inst + 1]++;
	pthread_mutex_unlock(&s->mu);
}

/* stats_trail_failure - a trail record the signer could not write */
void
stats_trail_failure(struct stats *s, int inst)
{
	lock(s);
	s->trail_failures[inst + 1]++;
	pthread_mutex_unlock(&s->mu);
}

/* stats_busy - a connection turned away because all workers were busy */
void
stats_busy(struct stats *s)
{
	lock(s);
	s->busy++;
	pthread_mutex_unlock(&s->mu);
}

/* stats_uid_limit - a connection turned away: its uid had its share */
void
stats_uid_limit(struct stats *s)
{
	lock(s);
	s->uid_limit++;
	pthread_mutex_unlock(&s->mu);
}

/* inst_name - the label value of an institution index (-1: unknown) */
static const char *
inst_name(const struct stats *s, size_t k)
{
	return k == 0 ? "unknown" : s->conf->inst[k - 1].code;
}

/*
 * front_label - `front="x",` before the other labels of a sample, or
 * `{front="x"}` when it has no other; both "" without a front (the
 * signer's figures in a scrape of the metrics listener, shown once)
 */
struct labels {
	char	 comma[LABEL_MAX];
	char	 only[LABEL_MAX];
};

static void
front_label(struct labels *l, const char *front)
{
	l->comma[0] = l->only[0] = '\0';
	if (front == NULL)
		return;
	snprintf(l->comma, sizeof(l->comma), "front=\"%s\",", front);
	snprintf(l->only, sizeof(l->only), "{front=\"%s\"}", front);
}

/* help - the HELP and TYPE lines of a family, once per text */
static int
help(struct buf *out, const char *name, const char *type, const char *text)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, text,
	    name, type);
}

/*
 * A family of the fronts' counters, one row of front_families: its HELP
 * and TYPE, shown once, and the function that writes one front's samples
 * of it (field: where its counter, or its array by institution, is in
 * struct stats).
 */
struct family {
	const char *name;
	const char *type;
	const char *help;
	int	(*samples)(struct stats *, const struct family *, struct buf *);
	size_t	 field;
};

/* front_results - one front's requests by institution and result */
static int
front_results(struct stats *s, const struct family *f, struct buf *out)
{
	static const char *const result[] = { "signed", "permfail",
	    "tempfail" };
	int	 rc = 0;

	lock(s);
	for (size_t k = 0; rc == 0 && k <= s->conf->ninst; k++)
		for (int r = 0; rc == 0 && r < 3; r++)
			rc = buf_printf(out, "%s{front=\"%s\",institution=\"%s\","
			    "result=\"%s\"} %lu\n", f->name, s->front,
			    inst_name(s, k), result[r], s->per_inst[k][r]);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* front_by_inst - one front's counter of f->field by institution */
static int
front_by_inst(struct stats *s, const struct family *f, struct buf *out)
{
	unsigned long *v = *(unsigned long **)((char *)s + f->field);
	int	 rc = 0;

	lock(s);
	for (size_t k = 0; rc == 0 && k <= s->conf->ninst; k++)
		rc = buf_printf(out, "%s{front=\"%s\",institution=\"%s\"} "
		    "%lu\n", f->name, s->front, inst_name(s, k), v[k]);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* front_latency - one front's histogram, cumulative as the format wants */
static int
front_latency(struct stats *s, const struct family *f, struct buf *out)
{
	unsigned long cum = 0;
	int	 rc = 0;

	lock(s);
	for (size_t b = 0; rc == 0 && b < NBOUNDS; b++) {
		cum += s->buckets[b];
		rc = buf_printf(out, "%s_bucket{front=\"%s\",le=\"%g\"} %lu\n",
		    f->name, s->front, bounds_ms[b] / 1000, cum);
	}
	if (rc == 0)
		rc = buf_printf(out, "%s_bucket{front=\"%s\",le=\"+Inf\"} %lu\n"
		    "%s_sum{front=\"%s\"} %.6f\n%s_count{front=\"%s\"} %lu\n",
		    f->name, s->front, s->count, f->name, s->front,
		    s->sum_ms / 1000, f->name, s->front, s->count);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* front_counter - one front's single counter of f->field */
static int
front_counter(struct stats *s, const struct family *f, struct buf *out)
{
	int	 rc;

	lock(s);
	rc = buf_printf(out, "%s{front=\"%s\"} %lu\n", f->name, s->front,
	    *(unsigned long *)((char *)s + f->field));
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* The families every front counts, in the order they are shown. */
static const struct family front_families[] = {
	{ "p11dkim_requests_total", "counter", "Signing requests by front, "
	    "institution and result.", front_results, 0 },
	{ "p11dkim_token_errors_total", "counter", "Temporary signing "
	    "failures from the token or signer.", front_by_inst,
	    offsetof(struct stats, token_errors) },
	{ "p11dkim_trail_failures_total", "counter", "Temporary signing "
	    "failures: the signing trail's record could not be written.",
	    front_by_inst, offsetof(struct stats, trail_failures) },
	{ "p11dkim_request_seconds", "histogram", "Time from the first byte "
	    "of a request to its reply.", front_latency, 0 },
	{ "p11dkim_busy_total", "counter", "Connections turned away: all "
	    "workers busy.", front_counter, offsetof(struct stats, busy) },
	{ "p11dkim_uid_limit_total", "counter", "Connections turned away: "
	    "their uid had max-connections-per-uid open.", front_counter,
	    offsetof(struct stats, uid_limit) },
};

/*
 * render_fronts - the families every front counts, each family's HELP
 * and TYPE once, then its samples from each front
 */
static int
render_fronts(struct stats *const *fronts, size_t n, struct buf *out)
{
	const size_t nfam = sizeof(front_families) / sizeof(front_families[0]);
	int	 rc = 0;

	for (size_t f = 0; rc == 0 && f < nfam; f++) {
		const struct family *fam = &front_families[f];

		rc = help(out, fam->name, fam->type, fam->help);
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = fam->samples(fronts[i], fam, out);
	}
	return rc;
}

/*
 * fetch - what the signer says of every key (what: SIGNER_STATUS_*,
 * each bytes a key) into v; the number of keys it said something of
 */
static size_t
fetch(struct signer *signer, int what, size_t each, size_t n,
    unsigned char *v)
{
	size_t	 done = 0, got;

	while (done < n) {
		got = signer_status(signer, what, done, v + done * each,
		    (n - done) * each < DKIM_SIG_MAX ? (n - done) * each :
		    DKIM_SIG_MAX / each * each);
		if (got == 0)
			break;
		done += got / each;
	}
	return done;
}

/* inst_state - up (1), down (2) or pending (0) from its keys' states */
static int
inst_state(const unsigned char *states, const struct keytab *keys,
    const struct conf_institution *inst, size_t *k)
{
	int	 up = 1, down = 0;

	for (; *k < keys->n && keys->e[*k].inst == inst; (*k)++) {
		up &= states[*k] == SIGNER_KEY_UP;
		down |= states[*k] == SIGNER_KEY_DOWN;
	}
	return down ? 2 : up ? 1 : 0;
}

/*
 * render_keys - per institution: up or not, and the bad signatures its
 * token returned (both from the signer); and how many are up, down and
 * not yet opened
 */
static int
render_keys(const struct stats *s, const struct labels *l,
    const struct keytab *keys, struct signer *signer, struct buf *out)
{
	unsigned char *states = calloc(keys->n + 1, 1);
	uint32_t *bad = calloc(keys->n + 1, sizeof(*bad));
	unsigned long count[3] = { 0, 0, 0 };
	size_t	 k = 0, nstates, nbad;
	int	 rc = -1;

	if (states == NULL || bad == NULL)
		goto out;
	nstates = fetch(signer, SIGNER_STATUS_STATES, 1, keys->n, states);
	nbad = fetch(signer, SIGNER_STATUS_BAD, 4, keys->n,
	    (unsigned char *)bad);
	rc = buf_printf(out, "# HELP p11dkim_institution_up 1 when every key "
	    "of the institution is logged in and checked.\n# TYPE "
	    "p11dkim_institution_up gauge\n");
	for (size_t i = 0; rc == 0 && k < nstates && i < s->conf->ninst; i++) {
		int st = inst_state(states, keys, &s->conf->inst[i], &k);

		count[st]++;
		rc = buf_printf(out, "p11dkim_institution_up{%sinstitution="
		    "\"%s\"} %d\n", l->comma, s->conf->inst[i].code, st == 1);
	}
	if (rc == 0)
		rc = buf_printf(out, "# HELP p11dkim_institutions Institutions "
		    "by the state of their keys.\n# TYPE p11dkim_institutions "
		    "gauge\np11dkim_institutions{%sstate=\"up\"} %lu\n"
		    "p11dkim_institutions{%sstate=\"down\"} %lu\n"
		    "p11dkim_institutions{%sstate=\"pending\"} %lu\n"
		    "# HELP p11dkim_token_bad_signatures_total Signatures the "
		    "token returned that did not verify (never used).\n# TYPE "
		    "p11dkim_token_bad_signatures_total counter\n", l->comma,
		    count[1], l->comma, count[2], l->comma, count[0]);
	for (k = 0; rc == 0 && k < nbad; k++)
		if (keys->e[k].kind == CONF_KIND_MAIN)
			rc = buf_printf(out, "p11dkim_token_bad_signatures_total{"
			    "%sinstitution=\"%s\"} %lu\n", l->comma,
			    keys->e[k].inst->code,
			    (unsigned long)bad[k] + (keys->e[k].dual !=
			    KEYTAB_NONE && keys->e[k].dual < nbad ?
			    bad[keys->e[k].dual] : 0));
out:
	free(states);
	free(bad);
	return rc;
}

/*
 * render_quota - per institution, the requests its quota refused (the
 * signer counts them, for every front, across reloads), by limit
 */
static int
render_quota(const struct labels *l, const struct keytab *keys,
    struct signer *signer, struct buf *out)
{
	uint32_t *refused = calloc(2 * keys->n + 2, sizeof(*refused));
	size_t	 n;
	int	 rc = -1;

	if (refused == NULL)
		return -1;
	n = fetch(signer, SIGNER_STATUS_QUOTA, 8, keys->n,
	    (unsigned char *)refused);
	rc = buf_printf(out, "# HELP p11dkim_quota_refusals_total Requests "
	    "refused with a temporary failure: the institution's quota was "
	    "spent.\n# TYPE p11dkim_quota_refusals_total counter\n");
	for (size_t k = 0; rc == 0 && k < n; k++)
		if (keys->e[k].kind == CONF_KIND_MAIN)
			rc = buf_printf(out, "p11dkim_quota_refusals_total{"
			    "%sinstitution=\"%s\",limit=\"rate\"} %lu\n"
			    "p11dkim_quota_refusals_total{%sinstitution=\"%s\","
			    "limit=\"daily-cap\"} %lu\n", l->comma,
			    keys->e[k].inst->code, (unsigned long)refused[2 * k],
			    l->comma, keys->e[k].inst->code,
			    (unsigned long)refused[2 * k + 1]);
	free(refused);
	return rc;
}

/*
 * render_daemon - the version, and (from the parent) the reloads taken
 * and refused and the configuration's generation: 1 at start, one more
 * at each reload taken
 */
static int
render_daemon(const struct stats_daemon *d, const struct labels *l,
    struct buf *out)
{
	unsigned long ok, refused;
	int	 rc;

	rc = help(out, "p11dkim_build_info", "gauge", "The version of "
	    "p11dkimd, as --version prints it.");
	if (rc == 0)
		rc = buf_printf(out, "p11dkim_build_info{%sversion=\"%s\"} 1\n",
		    l->comma, build_version);
	if (rc < 0 || d == NULL)
		return rc;
	ok = __atomic_load_n(&d->reloads[1], __ATOMIC_ACQUIRE);
	refused = __atomic_load_n(&d->reloads[0], __ATOMIC_ACQUIRE);
	rc = help(out, "p11dkim_reloads_total", "counter", "Reloads (SIGHUP) "
	    "by result: taken, or refused with the running configuration "
	    "kept.");
	if (rc == 0)
		rc = buf_printf(out, "p11dkim_reloads_total{%sresult=\"success\"} "
		    "%lu\np11dkim_reloads_total{%sresult=\"failure\"} %lu\n",
		    l->comma, ok, l->comma, refused);
	if (rc == 0)
		rc = help(out, "p11dkim_config_generation", "gauge", "The "
		    "serving configuration: 1 at start, one more at each reload "
		    "taken.");
	return rc < 0 ? rc : buf_printf(out, "p11dkim_config_generation%s %lu\n",
	    l->only, ok + 1);
}

/*
 * render_onboarding - per institution, live (1: its DNS was confirmed,
 * or it was configured before the onboarding gate) or pending (0), as
 * the keytab read it at start or at the last reload
 */
static int
render_onboarding(const struct labels *l, const struct keytab *keys,
    struct buf *out)
{
	int	 rc;

	rc = help(out, "p11dkim_institution_live", "gauge", "1 when the "
	    "institution is live, 0 while it is pending (DNS not confirmed).");
	for (size_t k = 0; rc == 0 && k < keys->n; k++)
		if (keys->e[k].kind == CONF_KIND_MAIN)
			rc = buf_printf(out, "p11dkim_institution_live{"
			    "%sinstitution=\"%s\"} %d\n", l->comma,
			    keys->e[k].inst->code,
			    !keys->e[k].pending);
	return rc;
}

/* stats_bound - how large the exposition text may grow */
size_t
stats_bound(const struct conf *c)
{
	return 64 * 1024 + c->ninst * 2048;
}

/*
 * render - the signer's figures (labelled front when front is given),
 * the parent's, then the counters of each front
 */
static int
render(struct stats *const *fronts, size_t n, const char *front,
    const struct keytab *keys, struct signer *signer, struct buf *out)
{
	struct labels l;
	int	 rc;

	front_label(&l, front);
	rc = keys != NULL && signer != NULL ? render_keys(fronts[0], &l, keys,
	    signer, out) : 0;
	if (rc == 0 && keys != NULL && signer != NULL)
		rc = render_quota(&l, keys, signer, out);
	if (rc == 0 && keys != NULL)
		rc = render_onboarding(&l, keys, out);
	if (rc == 0)
		rc = render_daemon(fronts[0]->daemon, &l, out);
	return rc < 0 ? rc : render_fronts(fronts, n, out);
}

/* stats_render - the exposition text of one front, every sample labelled */
int
stats_render(struct stats *s, const struct keytab *keys,
    struct signer *signer, struct buf *out)
{
	return render(&s, 1, s->front, keys, signer, out);
}

/* stats_render_scrape - every front's counters, the rest once */
int
stats_render_scrape(struct stats *const *fronts, size_t n,
    const struct keytab *keys, struct signer *signer, struct buf *out)
{
	return render(fronts, n, NULL, keys, signer, out);
}

/* stats_free - NULL is fine; returns NULL */
struct stats *
stats_free(struct stats *s)
{
	if (s == NULL)
		return NULL;
	if (s->map_len > 0) {		/* children may hold the lock */
		munmap(s, s->map_len);
		return NULL;
	}
	free(s->per_inst);
	free(s->token_errors);
	free(s->trail_failures);
	free(s);
	return NULL;
}
