/*
 * stats.c - counters and a latency histogram (see include/p11dkim/stats.h).
 */
#include <pthread.h>
#include <stdlib.h>

#include <stdint.h>
#include <string.h>

#include "p11dkim/stats.h"

static const double bounds_ms[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500,
	1000, 5000 };
#define NBOUNDS	(sizeof(bounds_ms) / sizeof(bounds_ms[0]))

struct stats {
	pthread_mutex_t mu;
	const struct conf *conf;
	unsigned long (*per_inst)[3];	/* [institution + 1][result] */
	unsigned long *token_errors;	/* [institution + 1] */
	unsigned long busy;
	unsigned long uid_limit;
	unsigned long buckets[NBOUNDS + 1];
	double	 sum_ms;
	unsigned long count;
};

/* stats_new - counters for the institutions of c */
struct stats *
stats_new(const struct conf *c)
{
	struct stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->conf = c;
	s->per_inst = calloc(c->ninst + 1, sizeof(*s->per_inst));
	s->token_errors = calloc(c->ninst + 1, sizeof(*s->token_errors));
	if (s->per_inst == NULL || s->token_errors == NULL)
		return stats_free(s);
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

/* stats_request - one request: institution index or -1, result, time */
void
stats_request(struct stats *s, int inst, enum stats_result r, double ms)
{
	size_t	 b = 0;

	while (b < NBOUNDS && ms > bounds_ms[b])
		b++;
	pthread_mutex_lock(&s->mu);
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
	pthread_mutex_lock(&s->mu);
	s->token_errors[inst + 1]++;
	pthread_mutex_unlock(&s->mu);
}

/* stats_busy - a connection turned away because all workers were busy */
void
stats_busy(struct stats *s)
{
	pthread_mutex_lock(&s->mu);
	s->busy++;
	pthread_mutex_unlock(&s->mu);
}

/* stats_uid_limit - a connection turned away: its uid had its share */
void
stats_uid_limit(struct stats *s)
{
	pthread_mutex_lock(&s->mu);
	s->uid_limit++;
	pthread_mutex_unlock(&s->mu);
}

/* inst_name - the label value of an institution index (-1: unknown) */
static const char *
inst_name(const struct stats *s, size_t k)
{
	return k == 0 ? "unknown" : s->conf->inst[k - 1].code;
}

/* render_requests - requests and token errors per institution */
static int
render_requests(struct stats *s, struct buf *out)
{
	static const char *const result[] = { "signed", "permfail",
	    "tempfail" };
	int	 rc;

	rc = buf_printf(out, "# HELP p11dkim_requests_total Signing requests "
	    "by institution and result.\n# TYPE p11dkim_requests_total "
	    "counter\n");
	for (size_t k = 0; rc == 0 && k <= s->conf->ninst; k++)
		for (int r = 0; rc == 0 && r < 3; r++)
			rc = buf_printf(out, "p11dkim_requests_total{"
			    "institution=\"%s\",result=\"%s\"} %lu\n",
			    inst_name(s, k), result[r], s->per_inst[k][r]);
	if (rc == 0)
		rc = buf_printf(out, "# HELP p11dkim_token_errors_total "
		    "Temporary signing failures from the token or signer.\n"
		    "# TYPE p11dkim_token_errors_total counter\n");
	for (size_t k = 0; rc == 0 && k <= s->conf->ninst; k++)
		rc = buf_printf(out, "p11dkim_token_errors_total{institution="
		    "\"%s\"} %lu\n", inst_name(s, k), s->token_errors[k]);
	return rc;
}

/* render_latency - the histogram, cumulative as the format wants it */
static int
render_latency(struct stats *s, struct buf *out)
{
	unsigned long cum = 0;
	int	 rc;

	rc = buf_printf(out, "# HELP p11dkim_request_seconds Time from the "
	    "first byte of a request to its reply.\n# TYPE "
	    "p11dkim_request_seconds histogram\n");
	for (size_t b = 0; rc == 0 && b < NBOUNDS; b++) {
		cum += s->buckets[b];
		rc = buf_printf(out, "p11dkim_request_seconds_bucket{le=\"%g\"} "
		    "%lu\n", bounds_ms[b] / 1000, cum);
	}
	if (rc == 0)
		rc = buf_printf(out, "p11dkim_request_seconds_bucket{le=\"+Inf\"}"
		    " %lu\np11dkim_request_seconds_sum %.6f\n"
		    "p11dkim_request_seconds_count %lu\n", s->count,
		    s->sum_ms / 1000, s->count);
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
render_keys(const struct stats *s, const struct keytab *keys,
    struct signer *signer, struct buf *out)
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
		rc = buf_printf(out, "p11dkim_institution_up{institution=\"%s\"} "
		    "%d\n", s->conf->inst[i].code, st == 1);
	}
	if (rc == 0)
		rc = buf_printf(out, "# HELP p11dkim_institutions Institutions "
		    "by the state of their keys.\n# TYPE p11dkim_institutions "
		    "gauge\np11dkim_institutions{state=\"up\"} %lu\n"
		    "p11dkim_institutions{state=\"down\"} %lu\n"
		    "p11dkim_institutions{state=\"pending\"} %lu\n"
		    "# HELP p11dkim_token_bad_signatures_total Signatures the "
		    "token returned that did not verify (never used).\n# TYPE "
		    "p11dkim_token_bad_signatures_total counter\n", count[1],
		    count[2], count[0]);
	for (k = 0; rc == 0 && k < nbad; k++)
		if (keys->e[k].kind == CONF_KIND_MAIN)
			rc = buf_printf(out, "p11dkim_token_bad_signatures_total{"
			    "institution=\"%s\"} %lu\n", keys->e[k].inst->code,
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
render_quota(const struct keytab *keys, struct signer *signer,
    struct buf *out)
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
			    "institution=\"%s\",limit=\"rate\"} %lu\n"
			    "p11dkim_quota_refusals_total{institution=\"%s\","
			    "limit=\"daily-cap\"} %lu\n", keys->e[k].inst->code,
			    (unsigned long)refused[2 * k], keys->e[k].inst->code,
			    (unsigned long)refused[2 * k + 1]);
	free(refused);
	return rc;
}

/*
 * render_onboarding - per institution, live (1: its DNS was confirmed,
 * or it was configured before the onboarding gate) or pending (0), as
 * the keytab read it at start or at the last reload
 */
static int
render_onboarding(const struct keytab *keys, struct buf *out)
{
	int	 rc;

	rc = buf_printf(out, "# HELP p11dkim_institution_live 1 when the "
	    "institution is live, 0 while it is pending (DNS not confirmed).\n"
	    "# TYPE p11dkim_institution_live gauge\n");
	for (size_t k = 0; rc == 0 && k < keys->n; k++)
		if (keys->e[k].kind == CONF_KIND_MAIN)
			rc = buf_printf(out, "p11dkim_institution_live{"
			    "institution=\"%s\"} %d\n", keys->e[k].inst->code,
			    !keys->e[k].pending);
	return rc;
}

/* stats_bound - how large the exposition text may grow */
size_t
stats_bound(const struct conf *c)
{
	return 64 * 1024 + c->ninst * 1024;
}

/* stats_render - the exposition text */
int
stats_render(struct stats *s, const struct keytab *keys,
    struct signer *signer, struct buf *out)
{
	int	 rc;

	rc = keys != NULL && signer != NULL ? render_keys(s, keys, signer,
	    out) : 0;
	if (rc == 0 && keys != NULL && signer != NULL)
		rc = render_quota(keys, signer, out);
	if (rc == 0 && keys != NULL)
		rc = render_onboarding(keys, out);
	pthread_mutex_lock(&s->mu);
	if (rc == 0)
		rc = render_requests(s, out);
	if (rc == 0)
		rc = render_latency(s, out);
	if (rc == 0)
		rc = buf_printf(out, "# HELP p11dkim_busy_total Connections "
		    "turned away: all workers busy.\n# TYPE p11dkim_busy_total "
		    "counter\np11dkim_busy_total %lu\n", s->busy);
	if (rc == 0)
		rc = buf_printf(out, "# HELP p11dkim_uid_limit_total Connections "
		    "turned away: their uid had max-connections-per-uid open.\n"
		    "# TYPE p11dkim_uid_limit_total counter\n"
		    "p11dkim_uid_limit_total %lu\n", s->uid_limit);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* stats_free - NULL is fine; returns NULL */
struct stats *
stats_free(struct stats *s)
{
	if (s == NULL)
		return NULL;
	free(s->per_inst);
	free(s->token_errors);
	free(s);
	return NULL;
}
