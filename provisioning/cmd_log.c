/*
 * cmd_log.c - p11dkim-keys log verify | log show: the ceremony log's hash
 * chain checked, or printed as a transcript for the witnesses to sign.
 */
#include <stdlib.h>
#include <string.h>

#include "p11dkim/ceremony_log.h"
#include "keys.h"

/* log_verify - check the chain; print the anchor to record */
static int
log_verify(struct keys_run *r)
{
	struct ceremony_log_summary sum;
	char	 err[512];

	if (ceremony_log_verify(r->conf->ceremony_log, &sum, err,
	    sizeof(err)) < 0) {
		printf("ceremony log %s: BROKEN at line %lu: %s\n"
		    "intact before it: %lu records, head %s\n",
		    r->conf->ceremony_log, sum.bad_line, err, sum.count,
		    sum.head);
		return EX_CHECK_FAILED;
	}
	printf("ceremony log %s: %s, %lu records, head %s\n",
	    r->conf->ceremony_log, sum.absent ? "absent (nothing logged yet)" :
	    "chain intact", sum.count, sum.head);
	return EX_OK;
}

/* cmd_log - p11dkim-keys log verify | log show [--from N] */
int
cmd_log(struct keys_run *r, int argc, char **argv)
{
	unsigned long from = 1;
	char	 err[512], *end;

	if (argc == 2 && strcmp(argv[1], "verify") == 0)
		return log_verify(r);
	if (argc >= 2 && strcmp(argv[1], "show") == 0) {
		if (argc == 4 && strcmp(argv[2], "--from") == 0) {
			from = strtoul(argv[3], &end, 10);
			if (*end != '\0' || from == 0)
				return keys_fail(EX_USAGE, "bad --from");
		} else if (argc != 2) {
			return keys_fail(EX_USAGE, "usage: log show [--from N]");
		}
		if (ceremony_log_transcript(r->conf->ceremony_log, from, stdout,
		    err, sizeof(err)) < 0)
			return keys_fail(EX_CHECK_FAILED, "%s", err);
		return EX_OK;
	}
	return keys_fail(EX_USAGE, "usage: log verify | log show [--from N]");
}
