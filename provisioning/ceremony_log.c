/*
 * ceremony_log.c - the ceremony log file of p11dkim-keys (see
 * include/p11dkim/ceremony_log.h and docs/CEREMONY-LOG.md): verify, a
 * pass over every line and its chain, and append, which chains a new
 * record to the last one.  Lines are made and read by ceremony_record.c.
 *
 * Security notes: lines are read with a 4 KiB bound; a longer line, a
 * line without LF or a NUL byte is damage, never data.  An append takes
 * an exclusive flock, chains to the last line read under that lock, and
 * writes the whole line with one write() before fsync; a short write is
 * cut back off.  Readers take a shared flock, so they never see half a
 * line.  Only regular files are opened, and an append checks that its
 * two descriptors name the same file.  The anchor file is replaced under
 * the same exclusive lock, after the record's fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p11dkim/atomic_file.h"
#include "p11dkim/buf.h"
#include "p11dkim/ceremony_log.h"
#include "ceremony_int.h"

#define ZERO_HASH	"0000000000000000000000000000000000000000" \
			"000000000000000000000000"
#define WHY_MAX		256		/* an inner message, before context */

/* The two descriptors of an append: one to write, one to read the tail. */
struct appender {
	const char	*path;
	int		 wfd;
	int		 rfd;
	off_t		 size;		/* size under the lock, before writing */
};

enum line_status { LINE_OK, LINE_EOF, LINE_LONG, LINE_UNTERMINATED,
	LINE_ERROR };

/* ceremony_summary_init - nothing verified yet */
void
ceremony_summary_init(struct ceremony_log_summary *sum)
{
	memset(sum, 0, sizeof(*sum));
	memcpy(sum->head, ZERO_HASH, sizeof(sum->head));
}

/*
 * ceremony_open_read - the log as a stream, under a shared flock (so no
 * append is half done); 1 when there is no log.
 */
int
ceremony_open_read(const char *path, FILE **fpp, char *err, size_t errlen)
{
	struct stat st;
	int	 fd;

	*fpp = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0) {
		if (errno == ENOENT)
			return 1;
		return ceremony_fail(err, errlen, "ceremony log '%s': open: %s",
		    path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		int	 saved = errno;

		(void)close(fd);
		return ceremony_fail(err, errlen, "ceremony log '%s': fstat: "
		    "%s", path, strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		(void)close(fd);
		return ceremony_fail(err, errlen, "ceremony log '%s': not a "
		    "regular file", path);
	}
	if (flock(fd, LOCK_SH) < 0 || (*fpp = fdopen(fd, "r")) == NULL) {
		int	 saved = errno;

		(void)close(fd);
		return ceremony_fail(err, errlen, "ceremony log '%s': lock and "
		    "read: %s", path, strerror(saved));
	}
	return 0;
}

/* line_read - the next line, without its LF, at most the line maximum */
static enum line_status
line_read(FILE *fp, char *line, size_t *len)
{
	size_t	 n = 0;
	int	 c;

	while ((c = getc(fp)) != EOF && c != '\n') {
		if (n == CEREMONY_LOG_LINE_MAX)
			return LINE_LONG;
		line[n++] = (char)c;
	}
	line[n] = '\0';
	*len = n;
	if (ferror(fp))
		return LINE_ERROR;
	if (c == '\n')
		return LINE_OK;
	return n == 0 ? LINE_EOF : LINE_UNTERMINATED;
}

/* ceremony_walk_init - a pass from the start of an open log */
void
ceremony_walk_init(struct walk *w, const char *path, FILE *fp,
    struct ceremony_log_summary *sum)
{
	w->path = path;
	w->fp = fp;
	w->line_no = 0;
	w->len = 0;
	w->sum = sum;
	ceremony_summary_init(sum);
}

/* walk_bad - the current line fails: record where and why */
static int __attribute__((format(printf, 4, 5)))
walk_bad(struct walk *w, char *err, size_t errlen, const char *fmt, ...)
{
	char	 why[WHY_MAX + 64];
	va_list	 ap;

	va_start(ap, fmt);
	if (vsnprintf(why, sizeof(why), fmt, ap) < 0)
		why[0] = '\0';
	va_end(ap);
	w->sum->bad_line = w->line_no;
	return ceremony_fail(err, errlen, "ceremony log '%s': line %lu: %s",
	    w->path, w->line_no, why);
}

/*
 * walk_seq_bad - a seq out of place.  Larger than due: records are
 * missing here or come later; smaller: this one came before.  Whether
 * prev still matches tells an edited seq from a moved record.
 */
static int
walk_seq_bad(struct walk *w, char *err, size_t errlen)
{
	unsigned long due = w->line_no;
	int	 linked = strcmp(w->rec.prev, w->sum->head) == 0;

	return walk_bad(w, err, errlen, "seq %lu where %lu was due (%s), "
	    "and prev %s", w->rec.seq, due, w->rec.seq > due ?
	    "a record was removed, or records reordered" :
	    "records reordered, or a record repeated", linked ?
	    "matches the record before (its seq was altered)" :
	    "does not match the record before");
}

/* walk_check - the current line: a record, due next, chained */
static int
walk_check(struct walk *w, char *err, size_t errlen)
{
	char	 why[WHY_MAX];

	if (ceremony_log_parse(w->line, w->len, &w->rec, why,
	    sizeof(why)) < 0)
		return walk_bad(w, err, errlen, "not a record: %s", why);
	if (w->rec.seq != w->line_no)
		return walk_seq_bad(w, err, errlen);
	if (strcmp(w->rec.prev, w->sum->head) != 0 && w->line_no == 1)
		return walk_bad(w, err, errlen, "prev of the first record is "
		    "not 64 zeros (records were removed before it, or it "
		    "was altered)");
	if (strcmp(w->rec.prev, w->sum->head) != 0)
		return walk_bad(w, err, errlen, "prev does not match the "
		    "hash of line %lu: line %lu was altered (or this "
		    "record's prev was)", w->line_no - 1, w->line_no - 1);
	if (ceremony_line_hash(w->line, w->len, w->hash, why, sizeof(why)) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': line "
		    "%lu: %s", w->path, w->line_no, why);
	return 0;
}

/* walk_next - read and check the next line: 1 done, 0 at EOF, -1 bad */
static int
walk_next(struct walk *w, char *err, size_t errlen)
{
	enum line_status st = line_read(w->fp, w->line, &w->len);

	if (st == LINE_EOF)
		return 0;
	w->line_no++;
	if (st == LINE_ERROR)
		return ceremony_fail(err, errlen, "ceremony log '%s': reading "
		    "line %lu: %s", w->path, w->line_no, strerror(errno));
	if (st == LINE_LONG)
		return walk_bad(w, err, errlen, "longer than %d bytes",
		    CEREMONY_LOG_LINE_MAX);
	if (st == LINE_UNTERMINATED)
		return walk_bad(w, err, errlen, "no newline at the end: the "
		    "last record is truncated or was partly written");
	if (walk_check(w, err, errlen) < 0)
		return -1;
	return 1;
}

/*
 * ceremony_walk_run - check every line; after each good one call fn (if any)
 * and advance the summary to it.
 */
int
ceremony_walk_run(struct walk *w, int (*fn)(void *,
    const struct ceremony_record *, const char *), void *ctx, char *err,
    size_t errlen)
{
	int	 rc;

	while ((rc = walk_next(w, err, errlen)) > 0) {
		if (fn != NULL && fn(ctx, &w->rec, w->hash) < 0)
			return ceremony_fail(err, errlen, "ceremony log '%s': "
			    "writing record %lu: %s", w->path, w->rec.seq,
			    strerror(errno));
		w->sum->count = w->rec.seq;
		memcpy(w->sum->head, w->hash, sizeof(w->sum->head));
	}
	return rc;
}

/* ceremony_log_verify - check every line of the log and its chain */
int
ceremony_log_verify(const char *path, struct ceremony_log_summary *out,
    char *err, size_t errlen)
{
	struct walk w;
	FILE	*fp;
	int	 rc;

	ceremony_summary_init(out);
	if ((rc = ceremony_open_read(path, &fp, err, errlen)) != 0) {
		out->absent = rc == 1;
		return rc == 1 ? 0 : -1;
	}
	ceremony_walk_init(&w, path, fp, out);
	rc = ceremony_walk_run(&w, NULL, NULL, err, errlen);
	(void)fclose(fp);		/* read-only: nothing to lose */
	return rc;
}

/* pread_full - exactly n bytes at off */
static int
pread_full(int fd, char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t	 got = pread(fd, p, n, off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;	/* shrank under our lock */
			return -1;
		}
		p += got;
		n -= (size_t)got;
		off += got;
	}
	return 0;
}

/*
 * last_line_read - the last line of the log, without its LF.  The tail
 * read holds a longest line, its LF and the LF before it.
 */
static int
last_line_read(const struct appender *a, char *line, size_t *len,
    char *err, size_t errlen)
{
	char	 tail[CEREMONY_LOG_LINE_MAX + 2];
	size_t	 want, start;
	off_t	 off;

	want = a->size < (off_t)sizeof(tail) ? (size_t)a->size : sizeof(tail);
	off = a->size - (off_t)want;
	if (pread_full(a->rfd, tail, want, off) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': reading "
		    "the last record: %s", a->path, strerror(errno));
	if (tail[want - 1] != '\n')
		return ceremony_fail(err, errlen, "ceremony log '%s': refusing "
		    "to append: the last line has no newline (truncated or "
		    "partly written); run 'log verify'", a->path);
	for (start = want - 1; start > 0 && tail[start - 1] != '\n'; start--)
		continue;
	if (start == 0 && off > 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': refusing "
		    "to append: the last line is longer than %d bytes", a->path,
		    CEREMONY_LOG_LINE_MAX);
	*len = want - 1 - start;
	memcpy(line, tail + start, *len);
	line[*len] = '\0';
	return 0;
}

/* chain_to_last - set rec's seq and prev to follow the last record */
static int
chain_to_last(const struct appender *a, struct ceremony_record *rec,
    char *err, size_t errlen)
{
	char	 line[CEREMONY_LOG_LINE_MAX + 1], why[WHY_MAX];
	struct ceremony_record last;
	size_t	 len = 0;

	if (a->size == 0) {
		rec->seq = 1;
		memcpy(rec->prev, ZERO_HASH, sizeof(rec->prev));
		return 0;
	}
	if (last_line_read(a, line, &len, err, errlen) < 0)
		return -1;
	if (ceremony_log_parse(line, len, &last, why, sizeof(why)) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': refusing "
		    "to append: the last line is not a record (%s); run 'log "
		    "verify'", a->path, why);
	if (last.seq == ULONG_MAX)
		return ceremony_fail(err, errlen, "ceremony log '%s': full "
		    "(seq %lu)", a->path, last.seq);
	rec->seq = last.seq + 1;
	if (ceremony_line_hash(line, len, rec->prev, why, sizeof(why)) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': %s",
		    a->path, why);
	return 0;
}

/* time_stamp - set rec->time to now, unless the caller preset it */
static int
time_stamp(struct ceremony_record *rec, char *err, size_t errlen)
{
	struct tm tm;
	time_t	 now;

	if (rec->time[0] != '\0')
		return 0;
	if ((now = time(NULL)) == (time_t)-1 || gmtime_r(&now, &tm) == NULL ||
	    strftime(rec->time, sizeof(rec->time), "%Y-%m-%dT%H:%M:%SZ",
	    &tm) != sizeof(rec->time) - 1)
		return ceremony_fail(err, errlen, "reading the clock: %s",
		    strerror(errno));
	return 0;
}

/*
 * appender_open - open to append and to read, lock, and make sure both
 * descriptors name the same regular file.
 */
static int
appender_open(struct appender *a, const char *path, char *err,
    size_t errlen)
{
	struct stat ws, rs;

	a->path = path;
	a->rfd = -1;
	if ((a->wfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': open to "
		    "append: %s", path, strerror(errno));
	if (flock(a->wfd, LOCK_EX) < 0 || fstat(a->wfd, &ws) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': lock: %s",
		    path, strerror(errno));
	if (!S_ISREG(ws.st_mode))
		return ceremony_fail(err, errlen, "ceremony log '%s': not a "
		    "regular file", path);
	if ((a->rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0 || fstat(a->rfd, &rs) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': open to "
		    "read: %s", path, strerror(errno));
	if (rs.st_dev != ws.st_dev || rs.st_ino != ws.st_ino)
		return ceremony_fail(err, errlen, "ceremony log '%s': replaced "
		    "while being opened", path);
	a->size = ws.st_size;
	return 0;
}

/* appender_close - close both; a failed close of the writer is an error */
static int
appender_close(struct appender *a, char *err, size_t errlen)
{
	int	 rc = 0;

	if (a->rfd >= 0)
		(void)close(a->rfd);	/* read-only: nothing to lose */
	if (a->wfd >= 0 && close(a->wfd) < 0)
		rc = ceremony_fail(err, errlen, "ceremony log '%s': close: %s",
		    a->path, strerror(errno));
	a->rfd = a->wfd = -1;
	return rc;
}

/* dir_of - the directory part of path: "." or "/" when it has none */
static int
dir_of(const char *path, char *dir, size_t len, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	int	 n;

	if (slash == NULL || slash == path)
		n = snprintf(dir, len, "%s", slash ? "/" : ".");
	else
		n = snprintf(dir, len, "%.*s", (int)(slash - path), path);
	if (n < 0 || (size_t)n >= len)
		return ceremony_fail(err, errlen, "'%s': directory name too "
		    "long", path);
	return 0;
}

/*
 * line_write - the line and its LF in one write(), then fsync.  A short
 * write is cut back off (we hold the lock, so the old size is the end
 * of the last whole record).
 */
static int
line_write(const struct appender *a, const struct buf *line, char *err,
    size_t errlen)
{
	ssize_t	 n;

	while ((n = write(a->wfd, line->data, line->len)) < 0 &&
	    errno == EINTR)
		continue;
	if (n < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': write: "
		    "%s", a->path, strerror(errno));
	if ((size_t)n != line->len) {
		if (ftruncate(a->wfd, a->size) < 0)
			return ceremony_fail(err, errlen, "ceremony log '%s': "
			    "short write, and cutting it back failed: %s; run "
			    "'log verify'", a->path, strerror(errno));
		return ceremony_fail(err, errlen, "ceremony log '%s': short "
		    "write (%zd of %zu bytes), cut back off", a->path, n,
		    line->len);
	}
	if (fsync(a->wfd) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': fsync: "
		    "%s", a->path, strerror(errno));
	return a->size == 0 ? atomic_file_sync_dir(a->path, err, errlen) : 0;
}

/* record_write - format rec with its LF and write it; its hash to hash */
static int
record_write(const struct appender *a, const struct ceremony_record *rec,
    char hash[CEREMONY_LOG_HASH_HEX], char *err, size_t errlen)
{
	struct buf line;
	char	 why[WHY_MAX];
	int	 rc = -1;

	buf_init(&line, CEREMONY_LOG_LINE_MAX + 1);
	if (ceremony_log_format(rec, &line, why, sizeof(why)) < 0)
		(void)ceremony_fail(err, errlen, "ceremony log '%s': refusing "
		    "to append: %s", a->path, why);
	else if (ceremony_line_hash(line.data, line.len, hash, why,
	    sizeof(why)) < 0)
		(void)ceremony_fail(err, errlen, "ceremony log '%s': %s",
		    a->path, why);
	else if (buf_append(&line, "\n", 1) < 0)
		(void)ceremony_fail(err, errlen, "ceremony log '%s': %s",
		    a->path, strerror(errno));
	else
		rc = line_write(a, &line, err, errlen);
	buf_release(&line);
	return rc;
}

/*
 * anchor_update - the anchor file names the record just written.  Only
 * after the record is durable: a crash in between leaves the anchor
 * behind the log, which verify accepts, and never ahead of it.
 */
static int
anchor_update(const struct appender *a, const char *anchor_path,
    const struct ceremony_record *rec, const char *hash, char *err,
    size_t errlen)
{
	char	 why[WHY_MAX + 64];

	if (anchor_path == NULL)
		return 0;
	if (ceremony_anchor_write(anchor_path, rec->seq, hash, why,
	    sizeof(why)) < 0)
		return ceremony_fail(err, errlen, "ceremony log '%s': record "
		    "%lu was written, but its anchor was not: %s", a->path,
		    rec->seq, why);
	return 0;
}

/* ceremony_log_append - chain rec to the log, write it durably, anchor it */
int
ceremony_log_append(const char *path, const char *anchor_path,
    struct ceremony_record *rec, char *err, size_t errlen)
{
	char	 hash[CEREMONY_LOG_HASH_HEX];
	struct appender a;
	int	 rc = -1;

	if (appender_open(&a, path, err, errlen) == 0 &&
	    chain_to_last(&a, rec, err, errlen) == 0 &&
	    time_stamp(rec, err, errlen) == 0 &&
	    record_write(&a, rec, hash, err, errlen) == 0 &&
	    anchor_update(&a, anchor_path, rec, hash, err, errlen) == 0)
		rc = 0;
	if (appender_close(&a, rc == 0 ? err : NULL, errlen) < 0)
		rc = -1;
	return rc;
}

/* ceremony_log_check_append - would an append work now? (no write) */
int
ceremony_log_check_append(const char *path, char *err, size_t errlen)
{
	struct ceremony_record rec;
	struct appender a;
	char	 dir[PATH_MAX];
	int	 rc = -1;

	if (access(path, F_OK) < 0 && errno == ENOENT) {
		if (dir_of(path, dir, sizeof(dir), err, errlen) < 0)
			return -1;
		if (access(dir, W_OK | X_OK) < 0)
			return ceremony_fail(err, errlen, "ceremony log '%s': "
			    "cannot be created in '%s': %s", path, dir,
			    strerror(errno));
		return 0;
	}
	memset(&rec, 0, sizeof(rec));
	if (appender_open(&a, path, err, errlen) == 0 &&
	    chain_to_last(&a, &rec, err, errlen) == 0)
		rc = 0;
	(void)appender_close(&a, NULL, 0);
	return rc;
}
