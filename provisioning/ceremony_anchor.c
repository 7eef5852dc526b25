/*
 * ceremony_anchor.c - the ceremony log held to anchors (see
 * include/p11dkim/ceremony_log.h and docs/CEREMONY-LOG.md): the anchor
 * file that every append rewrites with the log's count and head hash,
 * and a head hash the operator gives from a signed transcript.
 *
 * A chain that verifies can still be a shorter or rewritten log; an
 * anchor kept elsewhere tells.  The anchor file lives in the state
 * folder, apart from the log when the log is kept elsewhere.  It holds
 * no secret: whoever can rewrite both files can make them agree, and
 * only an anchor out of their reach (a signed transcript, a copy on
 * another machine) stands against that.
 *
 * Security notes: the anchor file is read with a 128-byte bound and
 * parsed strictly (exactly what ceremony_anchor_write() writes); it is
 * read under the log's shared lock, so no append is between its record
 * and its anchor.  Writes go through atomic_file_write().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p11dkim/atomic_file.h"
#include "p11dkim/ceremony_log.h"
#include "ceremony_int.h"

#define ANCHOR_MAX	128		/* "count=N head=HEX\n" and room */
#define ANCHOR_COUNT	"count="
#define ANCHOR_HEAD	" head="
#define ZERO_HASH	"0000000000000000000000000000000000000000" \
			"000000000000000000000000"

/* ceremony_anchor_write - "count=N head=HEX" and LF, atomically */
int
ceremony_anchor_write(const char *path, unsigned long count,
    const char *head, char *err, size_t errlen)
{
	char	 text[ANCHOR_MAX];
	int	 n = snprintf(text, sizeof(text), ANCHOR_COUNT "%lu"
	    ANCHOR_HEAD "%s\n", count, head);

	if (n < 0 || (size_t)n >= sizeof(text))
		return ceremony_fail(err, errlen, "anchor file '%s': head too "
		    "long", path);
	return atomic_file_write(path, text, (size_t)n, 0640, err, errlen);
}

/* ceremony_anchor_parse - exactly what ceremony_anchor_write() writes */
int
ceremony_anchor_parse(const char *text, size_t len, struct ceremony_anchor *a)
{
	const char *p = text + sizeof(ANCHOR_COUNT) - 1, *end = text + len;
	char	*after;

	/* The text is not a string: every comparison stays within len. */
	if (len < sizeof(ANCHOR_COUNT) || end[-1] != '\n' ||
	    memchr(text, '\0', len) != NULL ||
	    memcmp(text, ANCHOR_COUNT, sizeof(ANCHOR_COUNT) - 1) != 0 ||
	    *p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return -1;
	errno = 0;
	a->count = strtoul(p, &after, 10);	/* stops at the LF at the end */
	if (errno != 0 || (size_t)(end - after) < sizeof(ANCHOR_HEAD) - 1 ||
	    memcmp(after, ANCHOR_HEAD, sizeof(ANCHOR_HEAD) - 1) != 0)
		return -1;
	p = after + sizeof(ANCHOR_HEAD) - 1;
	if (end - p != CEREMONY_LOG_HASH_HEX)	/* the digits and the LF */
		return -1;
	memcpy(a->head, p, CEREMONY_LOG_HASH_HEX - 1);
	a->head[CEREMONY_LOG_HASH_HEX - 1] = '\0';
	return ceremony_hash_ok(a->head) ? 0 : -1;
}

/* ceremony_anchor_read - the anchor file: 0, 1 when there is none, -1 */
int
ceremony_anchor_read(const char *path, struct ceremony_anchor *a, char *err,
    size_t errlen)
{
	char	 text[ANCHOR_MAX];
	struct stat st;
	ssize_t	 n;
	int	 fd;

	memset(a, 0, sizeof(*a));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0)
		return errno == ENOENT ? 1 : ceremony_fail(err, errlen,
		    "anchor file '%s': open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		return ceremony_fail(err, errlen, "anchor file '%s': not a "
		    "regular file", path);
	}
	while ((n = read(fd, text, sizeof(text))) < 0 && errno == EINTR)
		continue;
	(void)close(fd);		/* read-only: nothing to lose */
	if (n < 0)
		return ceremony_fail(err, errlen, "anchor file '%s': read: %s",
		    path, strerror(errno));
	if ((size_t)n == sizeof(text) ||
	    ceremony_anchor_parse(text, (size_t)n, a) < 0)
		return ceremony_fail(err, errlen, "anchor file '%s': damaged "
		    "(not \"count=N head=HASH\")", path);
	return 0;
}

/* What a pass over the log looks for. */
struct finder {
	const char	*head;		/* the chain must pass through it */
	int		 head_found;
	unsigned long	 head_seq;
	unsigned long	 anchor_count;	/* the record the anchor names */
	char		 at_anchor[CEREMONY_LOG_HASH_HEX];	/* its hash */
};

/* finder_note - one record of the pass: is it the head, or anchored? */
static int
finder_note(void *ctx, const struct ceremony_record *rec, const char *hash)
{
	struct finder *f = ctx;

	if (f->head != NULL && !f->head_found && strcmp(hash, f->head) == 0) {
		f->head_found = 1;
		f->head_seq = rec->seq;
	}
	if (rec->seq == f->anchor_count)
		memcpy(f->at_anchor, hash, sizeof(f->at_anchor));
	return 0;
}

/* anchor_fail - the chain is intact, an anchor is not (rc: why's -1) */
static int
anchor_fail(struct ceremony_log_check *chk, int rc)
{
	chk->failed = 1;
	return rc;
}

/* head_holds - the chain passes through the head asked for */
static int
head_holds(const char *path, struct ceremony_log_check *chk,
    const struct finder *f, const struct ceremony_log_summary *out,
    char *err, size_t errlen)
{
	if (chk->head == NULL)
		return 0;
	if (!f->head_found)
		return anchor_fail(chk, ceremony_fail(err, errlen, "ceremony "
		    "log '%s': the chain of %lu records does not pass through "
		    "head %s: the record it names was cut off, or the log was "
		    "rewritten from it or before (or it is another log's "
		    "head)", path, out->count, chk->head));
	chk->head_found = 1;
	chk->head_seq = f->head_seq;
	return 0;
}

/* anchor_holds - the log reaches the anchor's count, with its head there */
static int
anchor_holds(const char *path, struct ceremony_log_check *chk,
    const struct finder *f, const struct ceremony_log_summary *out,
    char *err, size_t errlen)
{
	const char *a = chk->anchor_path;
	const struct ceremony_anchor *an = &chk->anchor;

	if (a == NULL || (chk->anchor_absent && out->count == 0))
		return 0;
	if (chk->anchor_absent)
		return anchor_fail(chk, ceremony_fail(err, errlen, "ceremony "
		    "log '%s' has %lu records but no anchor file '%s': it was "
		    "removed, or the log was written before anchors were kept "
		    "(the next append writes it)", path, out->count, a));
	if (out->absent && an->count > 0)
		return anchor_fail(chk, ceremony_fail(err, errlen, "ceremony "
		    "log '%s' is absent, its anchor '%s' says %lu records "
		    "(head %s): the log was removed or moved", path, a,
		    an->count, an->head));
	if (out->count < an->count)
		return anchor_fail(chk, ceremony_fail(err, errlen, "ceremony "
		    "log '%s' has %lu records, its anchor '%s' says %lu (head "
		    "%s): records were cut off the end", path, out->count, a,
		    an->count, an->head));
	if (strcmp(f->at_anchor, an->head) != 0)
		return anchor_fail(chk, ceremony_fail(err, errlen, "ceremony "
		    "log '%s': record %lu has hash %s, its anchor '%s' says "
		    "%s: the log was rewritten from that record or before",
		    path, an->count, f->at_anchor, a, an->head));
	return 0;
}

/* check_init - nothing found yet */
static void
check_init(struct ceremony_log_check *chk, struct finder *f)
{
	chk->failed = 0;
	chk->head_found = 0;
	chk->head_seq = 0;
	chk->anchor_absent = 0;
	memset(&chk->anchor, 0, sizeof(chk->anchor));
	memset(f, 0, sizeof(*f));
	f->head = chk->head;
	f->head_found = chk->head != NULL && strcmp(chk->head, ZERO_HASH) == 0;
	f->anchor_count = ULONG_MAX;
	memcpy(f->at_anchor, ZERO_HASH, sizeof(f->at_anchor));
}

/*
 * anchor_load - read the anchor file (while the log is locked); its
 * trouble is kept in why, to be told once the chain is known intact
 */
static int
anchor_load(struct ceremony_log_check *chk, struct finder *f, char *why,
    size_t whylen)
{
	int	 rc;

	why[0] = '\0';
	if (chk->anchor_path == NULL)
		return 0;
	rc = ceremony_anchor_read(chk->anchor_path, &chk->anchor, why, whylen);
	chk->anchor_absent = rc == 1;
	if (rc == 0)
		f->anchor_count = chk->anchor.count;
	return rc < 0 ? -1 : 0;
}

/* ceremony_log_check - verify, held to a head and to the anchor file */
int
ceremony_log_check(const char *path, struct ceremony_log_check *chk,
    struct ceremony_log_summary *out, char *err, size_t errlen)
{
	char	 why[512];
	struct finder f;
	struct walk w;
	FILE	*fp;
	int	 rc, anchor_rc;

	check_init(chk, &f);
	ceremony_summary_init(out);
	if ((rc = ceremony_open_read(path, &fp, err, errlen)) < 0)
		return -1;
	out->absent = rc == 1;
	anchor_rc = anchor_load(chk, &f, why, sizeof(why));
	if (fp != NULL) {
		ceremony_walk_init(&w, path, fp, out);
		rc = ceremony_walk_run(&w, finder_note, &f, err, errlen);
		(void)fclose(fp);	/* read-only: nothing to lose */
		if (rc < 0)
			return -1;
	}
	if (anchor_rc < 0)
		return anchor_fail(chk, ceremony_fail(err, errlen, "%s", why));
	if (head_holds(path, chk, &f, out, err, errlen) < 0)
		return -1;
	return anchor_holds(path, chk, &f, out, err, errlen);
}
