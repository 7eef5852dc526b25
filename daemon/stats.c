/*
 * stats.c - counters and a latency histogram (see include/p11dkim/stats.h).
 */
#include <pthread.h>
#include <stdlib.h>

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

/* stats_render - the exposition text */
int
stats_render(struct stats *s, struct buf *out)
{
	int	 rc;

	pthread_mutex_lock(&s->mu);
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
