/*
 * ceremony_int.h - the inside of the ceremony log modules, shared by
 * them only: ceremony_record.c (a record as a line: check, format,
 * parse, hash), ceremony_log.c (the file: verify, append, locking, the
 * chain), ceremony_anchor.c (the anchor file, and verify held to it and
 * to a given head) and ceremony_transcript.c.  Their API is
 * include/p11dkim/ceremony_log.h; nothing else includes this file.
 *
 * Security notes: a walk reads the log under the shared flock taken by
 * ceremony_open_read(); its line buffer holds CEREMONY_LOG_LINE_MAX
 * bytes and a NUL, and a longer line is damage, never data.
 */
#ifndef P11DKIM_CEREMONY_INT_H
#define P11DKIM_CEREMONY_INT_H

#include <stddef.h>
#include <stdio.h>

#include "p11dkim/ceremony_log.h"

/* --- ceremony_record.c --------------------------------------------- */

/*
 * ceremony_fail - write a message to err (when there is one) and return
 * -1.  A message longer than errlen is cut short.
 */
int	ceremony_fail(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* ceremony_line_hash - hex SHA-256 of a line without its LF */
int	ceremony_line_hash(const char *line, size_t len,
	    char hex[CEREMONY_LOG_HASH_HEX], char *err, size_t errlen);

/* ceremony_hash_ok - exactly 64 lower-case hex digits */
int	ceremony_hash_ok(const char *);

/* --- ceremony_anchor.c --------------------------------------------- */

/* ceremony_anchor_write - "count=N head=HEX" and LF, atomically */
int	ceremony_anchor_write(const char *path, unsigned long count,
	    const char *head, char *err, size_t errlen);

/* ceremony_anchor_read - the anchor file: 0, 1 when there is none, -1 */
int	ceremony_anchor_read(const char *path, struct ceremony_anchor *,
	    char *err, size_t errlen);

/* --- ceremony_log.c: passes over the log, for verify and transcript  */

/* The state of a pass over the log file. */
struct walk {
	const char	*path;
	FILE		*fp;
	unsigned long	 line_no;
	char		 line[CEREMONY_LOG_LINE_MAX + 1];
	size_t		 len;
	struct ceremony_record rec;
	char		 hash[CEREMONY_LOG_HASH_HEX];
	struct ceremony_log_summary *sum;
};

/* ceremony_summary_init - nothing verified yet: count 0, head all zeros */
void	ceremony_summary_init(struct ceremony_log_summary *);

/*
 * ceremony_open_read - the log as a stream, under a shared flock (so no
 * append is half done); 0, 1 when there is no log, or -1.
 */
int	ceremony_open_read(const char *path, FILE **fpp, char *err,
	    size_t errlen);

/* ceremony_walk_init - a pass from the start of an open log */
void	ceremony_walk_init(struct walk *, const char *path, FILE *fp,
	    struct ceremony_log_summary *);

/*
 * ceremony_walk_run - check every line; after each good one call fn (if
 * any) with the record and its hash, and advance the summary to it.
 * Returns 0 at the end of an intact log, -1 at the first bad line.
 */
int	ceremony_walk_run(struct walk *, int (*fn)(void *,
	    const struct ceremony_record *, const char *), void *ctx,
	    char *err, size_t errlen);

#endif
