/*
 * ceremony_find.c - look a key's generation up in the ceremony log (see
 * include/p11dkim/ceremony_log.h): the audit's second source, for tokens
 * that do not say themselves that a key was generated on them.
 *
 * Security notes: the whole log is verified in the same pass, under the
 * shared lock; a log that does not verify vouches for nothing.  A record
 * is only the log's word (docs/CEREMONY-LOG.md says what that is worth).
 */
#include <string.h>

#include "p11dkim/ceremony_log.h"
#include "ceremony_int.h"

/* What is looked for, and the last record that matched. */
struct wanted {
	const char	*label;
	const char	*serial;
	const char	*fpr;
	struct ceremony_record *out;
	int		 found;
};

/* match - keep a generate record of this key on this token */
static int
match(void *ctx, const struct ceremony_record *r, const char *hash)
{
	struct wanted *w = ctx;

	(void)hash;
	if (strcmp(r->action, "generate") == 0 && ceremony_result_ok(r->result) &&
	    strcmp(r->fpr, w->fpr) == 0 &&
	    strcmp(r->token_label, w->label) == 0 &&
	    strcmp(r->token_serial, w->serial) == 0) {
		*w->out = *r;
		w->found = 1;
	}
	return 0;
}

/* ceremony_log_find_generated - the log's record of a key's generation */
int
ceremony_log_find_generated(const char *path, const char *token_label,
    const char *token_serial, const char *fpr, struct ceremony_record *out,
    char *err, size_t errlen)
{
	struct wanted w = { token_label, token_serial, fpr, out, 0 };
	struct ceremony_log_summary sum;
	struct walk walk;
	FILE	*fp;
	int	 rc;

	ceremony_summary_init(&sum);
	if (fpr[0] == '\0')
		return 0;
	if ((rc = ceremony_open_read(path, &fp, err, errlen)) != 0)
		return rc == 1 ? 0 : -1;
	ceremony_walk_init(&walk, path, fp, &sum);
	rc = ceremony_walk_run(&walk, match, &w, err, errlen);
	(void)fclose(fp);		/* read-only: nothing to lose */
	if (rc < 0)
		return -1;
	return w.found;
}
