/*
 * ceremony_query.c - find a record in the ceremony log (see
 * include/p11dkim/ceremony_log.h): what a ceremony that was cut short
 * asks before it resumes, e.g. "was the key now on the token made by our
 * own ceremony, and logged?".
 *
 * Security notes: the whole chain is verified on the way (the same walk
 * as 'log verify', under the shared lock), so a broken log proves
 * nothing: the answer is then an error, never a record.
 */
#include <string.h>

#include "p11dkim/ceremony_log.h"
#include "ceremony_int.h"

struct query {
	int	(*match)(void *, const struct ceremony_record *);
	void	*ctx;
	struct ceremony_record *out;
	int	 found;
};

/* query_record - keep the record when it matches */
static int
query_record(void *arg, const struct ceremony_record *rec, const char *hash)
{
	struct query *q = arg;

	(void)hash;
	if (q->match(q->ctx, rec) == 1) {
		*q->out = *rec;
		q->found = 1;
	}
	return 0;
}

/* ceremony_log_last - the last record of an intact log that matches */
int
ceremony_log_last(const char *path, int (*match)(void *,
    const struct ceremony_record *), void *ctx, struct ceremony_record *out,
    char *err, size_t errlen)
{
	struct query q = { match, ctx, out, 0 };
	struct ceremony_log_summary sum;
	struct walk w;
	FILE	*fp;
	int	 rc;

	memset(out, 0, sizeof(*out));
	ceremony_summary_init(&sum);
	if ((rc = ceremony_open_read(path, &fp, err, errlen)) != 0)
		return rc == 1 ? 0 : -1;
	ceremony_walk_init(&w, path, fp, &sum);
	rc = ceremony_walk_run(&w, query_record, &q, err, errlen);
	(void)fclose(fp);		/* read-only: nothing to lose */
	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return q.found;
}
