/*
 * cmd_log.c - p11dkim-keys log verify | log show: the ceremony log's hash
 * chain checked (against the anchor file of the state folder, and a head
 * hash from a signed transcript when given), or printed as a transcript
 * for the witnesses to sign.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "p11dkim/ceremony_log.h"
#include "keys.h"

/*
 * head_arg - a head hash as typed (64 hex digits, either case), in the
 * lower case the log writes; 0, or -1 when it is not one
 */
static int
head_arg(const char *arg, char out[CEREMONY_LOG_HASH_HEX])
{
	size_t	 k;

	for (k = 0; arg[k] != '\0' && k < CEREMONY_LOG_HASH_HEX - 1; k++) {
		if (!isxdigit((unsigned char)arg[k]))
			return -1;
		out[k] = (char)tolower((unsigned char)arg[k]);
	}
	out[k] = '\0';
	return k == CEREMONY_LOG_HASH_HEX - 1 && arg[k] == '\0' ? 0 : -1;
}

/* print_head - where the chain passes through the head asked for */
static void
print_head(const struct ceremony_log_check *chk,
    const struct ceremony_log_summary *sum)
{
	if (chk->head_found)
		printf("head %s: record %lu of %lu\n", chk->head, chk->head_seq,
		    sum->count);
}

/* print_anchors - what the log was held to, and where it stands */
static void
print_anchors(const struct ceremony_log_check *chk,
    const struct ceremony_log_summary *sum)
{
	if (chk->anchor_absent)
		printf("anchor %s: none yet (nothing logged)\n",
		    chk->anchor_path);
	else if (sum->count > chk->anchor.count)
		printf("anchor %s: record %lu, head %s; the %lu record(s) "
		    "after it are not anchored yet (an append stopped between "
		    "its record and the anchor, or the anchor is an older "
		    "copy: the next append anchors them)\n",
		    chk->anchor_path, chk->anchor.count, chk->anchor.head,
		    sum->count - chk->anchor.count);
	else
		printf("anchor %s: record %lu, head %s: matches\n",
		    chk->anchor_path, chk->anchor.count, chk->anchor.head);
	print_head(chk, sum);
}

/* log_verify - check the chain and its anchors; print the anchor to record */
static int
log_verify(struct keys_run *r, const char *head)
{
	struct ceremony_log_summary sum;
	struct ceremony_log_check chk = { .head = head };
	char	 err[1024], anchor[PATH_MAX];
	int	 rc;

	if ((rc = keys_anchor_path(r, anchor, sizeof(anchor))) != EX_OK)
		return rc;
	chk.anchor_path = anchor;
	if (ceremony_log_check(r->conf->ceremony_log, &chk, &sum, err,
	    sizeof(err)) < 0 && !chk.failed) {
		printf("ceremony log %s: BROKEN at line %lu: %s\n"
		    "intact before it: %lu records, head %s\n",
		    r->conf->ceremony_log, sum.bad_line, err, sum.count,
		    sum.head);
		return EX_CHECK_FAILED;
	}
	printf("ceremony log %s: %s, %lu records, head %s\n",
	    r->conf->ceremony_log, sum.absent ? "absent (nothing logged yet)" :
	    "chain intact", sum.count, sum.head);
	if (chk.failed) {
		print_head(&chk, &sum);
		printf("NOT AS ANCHORED: %s\n", err);
		return EX_CHECK_FAILED;
	}
	print_anchors(&chk, &sum);
	return EX_OK;
}

/* cmd_log - p11dkim-keys log verify [--head HASH] | log show [--from N] */
int
cmd_log(struct keys_run *r, int argc, char **argv)
{
	unsigned long from = 1;
	char	 err[512], head[CEREMONY_LOG_HASH_HEX], *end;

	if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		if (argc == 2)
			return log_verify(r, NULL);
		if (argc == 4 && strcmp(argv[2], "--head") == 0 &&
		    head_arg(argv[3], head) == 0)
			return log_verify(r, head);
		return keys_fail(EX_USAGE, "usage: log verify [--head HASH] "
		    "(HASH: 64 hex digits, a head hash from a transcript)");
	}
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
	return keys_fail(EX_USAGE, "usage: log verify [--head HASH] | log show "
	    "[--from N]");
}
