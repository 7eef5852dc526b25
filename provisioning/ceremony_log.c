/*
 * ceremony_log.c - the hash-chained ceremony log of p11dkim-keys (see
 * include/p11dkim/ceremony_log.h and docs/CEREMONY-LOG.md).
 *
 * One record per line: key=value fields in a fixed order, separated by
 * single spaces, values percent-encoded.  The hash of a record is the
 * SHA-256 of its line without the LF; the next record's prev holds it.
 *
 * Security notes: the parser accepts only the exact text the formatter
 * writes (canonical %XX, no optional spaces), so a line has one meaning
 * and one hash.  Lines are read with a 4 KiB bound; a longer line, a
 * line without LF or a NUL byte is damage, never data.  An append takes
 * an exclusive flock, chains to the last line read under that lock, and
 * writes the whole line with one write() before fsync; a short write is
 * cut back off.  Readers take a shared flock, so they never see half a
 * line.  The transcript escapes everything outside printable ASCII, so
 * a record cannot send terminal controls or forge transcript lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "p11dkim/buf.h"
#include "p11dkim/ceremony_log.h"

#define ZERO_HASH	"0000000000000000000000000000000000000000" \
			"000000000000000000000000"
#define HASH_LEN	64		/* hex digits in a SHA-256 */
#define SEQ_DIGITS_MAX	20		/* digits of ULONG_MAX on LP64 */
#define WHY_MAX		256		/* an inner message, before context */
#define TIME_PATTERN	"dddd-dd-ddTdd:dd:ddZ"

/* One string field of a record: its key, where it lives, what it allows. */
struct field {
	const char	*key;
	size_t		 off;
	size_t		 size;		/* of the array, with the NUL */
	int		(*valid)(const char *);
	const char	*want;		/* what valid means, for messages */
};

/* A position in the line being parsed. */
struct cursor {
	const char	*line;
	const char	*p;
	const char	*end;
};

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

/* The two descriptors of an append: one to write, one to read the tail. */
struct appender {
	const char	*path;
	int		 wfd;
	int		 rfd;
	off_t		 size;		/* size under the lock, before writing */
};

/* What the transcript pass needs. */
struct transcript {
	FILE		*out;
	unsigned long	 from;
};

enum line_status { LINE_OK, LINE_EOF, LINE_LONG, LINE_UNTERMINATED,
	LINE_ERROR };

/*
 * fail - write a message to err (when there is one) and return -1.  A
 * message longer than errlen is cut short, which is all it can do.
 */
static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
	return -1;
}

/* is_digit - ASCII digit, whatever the locale */
static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* is_lower_hex - a lower-case hex digit */
static int
is_lower_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* is_upper_hex - an upper-case hex digit, as %XX uses */
static int
is_upper_hex(int c)
{
	return is_digit(c) || (c >= 'A' && c <= 'F');
}

/* hex_value - the value of a hex digit known to be one */
static unsigned
hex_value(int c)
{
	if (is_digit(c))
		return (unsigned)(c - '0');
	return (unsigned)((c | 0x20) - 'a' + 10);
}

/* must_encode - bytes that never appear raw in a value */
static int
must_encode(unsigned char c)
{
	return c <= ' ' || c >= 0x7f || c == '=' || c == '%';
}

/* valid_any - optional free text */
static int
valid_any(const char *v)
{
	(void)v;
	return 1;
}

/* valid_required - free text, not empty */
static int
valid_required(const char *v)
{
	return v[0] != '\0';
}

/* valid_hash - exactly 64 lower-case hex digits */
static int
valid_hash(const char *v)
{
	for (size_t i = 0; i < HASH_LEN; i++)
		if (!is_lower_hex((unsigned char)v[i]))
			return 0;
	return v[HASH_LEN] == '\0';
}

/* valid_fpr - a key fingerprint, or nothing when no key is involved */
static int
valid_fpr(const char *v)
{
	return v[0] == '\0' || valid_hash(v);
}

/* valid_action - a verb of lower-case letters, digits and hyphens */
static int
valid_action(const char *v)
{
	if (v[0] == '\0')
		return 0;
	for (; *v != '\0'; v++)
		if (!is_digit((unsigned char)*v) && *v != '-' &&
		    !(*v >= 'a' && *v <= 'z'))
			return 0;
	return 1;
}

/* valid_result - "ok", or "failed: " and a reason */
static int
valid_result(const char *v)
{
	return strcmp(v, "ok") == 0 ||
	    (strncmp(v, "failed: ", 8) == 0 && v[8] != '\0');
}

/* digits_value - the value of n ASCII digits known to be digits */
static int
digits_value(const char *s, size_t n)
{
	int	 v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * valid_time - ISO 8601 UTC to the second, "2026-11-26T23:30:00Z", and a
 * real date: timegm() normalizes Feb 30 to Mar 2, which then differs.
 */
static int
valid_time(const char *v)
{
	static const char pattern[] = TIME_PATTERN;
	struct tm tm, want;

	if (strlen(v) != sizeof(pattern) - 1)
		return 0;
	for (size_t i = 0; i < sizeof(pattern) - 1; i++)
		if (pattern[i] == 'd' ? !is_digit((unsigned char)v[i]) :
		    v[i] != pattern[i])
			return 0;
	memset(&want, 0, sizeof(want));
	want.tm_year = digits_value(v, 4) - 1900;
	want.tm_mon = digits_value(v + 5, 2) - 1;
	want.tm_mday = digits_value(v + 8, 2);
	want.tm_hour = digits_value(v + 11, 2);
	want.tm_min = digits_value(v + 14, 2);
	want.tm_sec = digits_value(v + 17, 2);
	tm = want;
	(void)timegm(&tm);	/* 4-digit years cannot overflow a time_t */
	return tm.tm_year == want.tm_year && tm.tm_mon == want.tm_mon &&
	    tm.tm_mday == want.tm_mday && tm.tm_hour == want.tm_hour &&
	    tm.tm_min == want.tm_min && tm.tm_sec == want.tm_sec;
}

#define STRING_FIELD(key, member, valid, want) \
	{ key, offsetof(struct ceremony_record, member), \
	  sizeof(((struct ceremony_record *)0)->member), valid, want }

/* The fields after seq, in line order. */
static const struct field fields[] = {
	STRING_FIELD("time", time, valid_time,
	    "UTC time like 2026-11-26T23:30:00Z"),
	STRING_FIELD("operator", operator_name, valid_required, "a name"),
	STRING_FIELD("host", host, valid_required, "a host name"),
	STRING_FIELD("token", token_label, valid_any, "any text"),
	STRING_FIELD("serial", token_serial, valid_any, "any text"),
	STRING_FIELD("action", action, valid_action,
	    "lower-case letters, digits and hyphens"),
	STRING_FIELD("inst", inst, valid_any, "any text"),
	STRING_FIELD("selector", selector, valid_any, "any text"),
	STRING_FIELD("fpr", fpr, valid_fpr,
	    "64 lower-case hex digits, or nothing"),
	STRING_FIELD("result", result, valid_result,
	    "\"ok\" or \"failed: <reason>\""),
	STRING_FIELD("prev", prev, valid_hash, "64 lower-case hex digits"),
};

#define FIELD_COUNT	(sizeof(fields) / sizeof(fields[0]))

/* field_get - a string field of a record, read-only */
static const char *
field_get(const struct ceremony_record *rec, const struct field *f)
{
	return (const char *)rec + f->off;
}

/* field_put - a string field of a record, to fill */
static char *
field_put(struct ceremony_record *rec, const struct field *f)
{
	return (char *)rec + f->off;
}

/* record_check - every field of rec as the line format allows it */
static int
record_check(const struct ceremony_record *rec, char *err, size_t errlen)
{
	if (rec->seq == 0)
		return fail(err, errlen, "field 'seq': want 1 or more");
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		const char *v = field_get(rec, &fields[i]);

		if (memchr(v, '\0', fields[i].size) == NULL)
			return fail(err, errlen, "field '%s': not "
			    "NUL-terminated within %zu bytes", fields[i].key,
			    fields[i].size);
		if (!fields[i].valid(v))
			return fail(err, errlen, "field '%s': want %s",
			    fields[i].key, fields[i].want);
	}
	return 0;
}

/* value_encode - append v with the bytes that need it as %XX */
static int
value_encode(struct buf *out, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;
		char	 enc[3] = { '%', hex[c >> 4], hex[c & 0x0f] };

		if ((must_encode(c) ? buf_append(out, enc, sizeof(enc)) :
		    buf_append(out, v, 1)) < 0)
			return -1;
	}
	return 0;
}

/* record_format - append seq and the fields as key=value */
static int
record_format(const struct ceremony_record *rec, struct buf *out)
{
	if (buf_printf(out, "seq=%lu", rec->seq) < 0)
		return -1;
	for (size_t i = 0; i < FIELD_COUNT; i++)
		if (buf_printf(out, " %s=", fields[i].key) < 0 ||
		    value_encode(out, field_get(rec, &fields[i])) < 0)
			return -1;
	return 0;
}

/* ceremony_log_format - check rec and append its line (no LF) to out */
int
ceremony_log_format(const struct ceremony_record *rec, struct buf *out,
    char *err, size_t errlen)
{
	size_t	 start = out->len;

	if (record_check(rec, err, errlen) < 0)
		return -1;
	if (record_format(rec, out) < 0) {
		int	 saved = errno;

		buf_truncate(out, start);
		return fail(err, errlen, "formatting record %lu: %s",
		    rec->seq, strerror(saved));
	}
	if (out->len - start > CEREMONY_LOG_LINE_MAX) {
		size_t	 len = out->len - start;

		buf_truncate(out, start);
		return fail(err, errlen, "record %lu: line of %zu bytes is "
		    "longer than %d", rec->seq, len, CEREMONY_LOG_LINE_MAX);
	}
	return 0;
}

/* cursor_at - the offset of the cursor in the line, for messages */
static size_t
cursor_at(const struct cursor *c)
{
	return (size_t)(c->p - c->line);
}

/* parse_key - "key=" at the cursor */
static int
parse_key(struct cursor *c, const char *key, char *err, size_t errlen)
{
	size_t	 klen = strlen(key);

	if ((size_t)(c->end - c->p) <= klen || memcmp(c->p, key, klen) != 0 ||
	    c->p[klen] != '=')
		return fail(err, errlen, "byte %zu: want field '%s'",
		    cursor_at(c), key);
	c->p += klen + 1;
	return 0;
}

/*
 * parse_seq - the decimal seq: 1 or more, no sign, no leading zero,
 * no overflow.
 */
static int
parse_seq(struct cursor *c, unsigned long *seq, char *err, size_t errlen)
{
	unsigned long v = 0;
	size_t	 n = 0;

	for (; c->p < c->end && *c->p != ' '; c->p++, n++) {
		unsigned d = (unsigned)(*c->p - '0');

		if (!is_digit((unsigned char)*c->p) || (n == 0 && d == 0) ||
		    v > (ULONG_MAX - d) / 10)
			return fail(err, errlen, "field 'seq': want a "
			    "number from 1 to %lu without leading zeros",
			    ULONG_MAX);
		v = v * 10 + d;
	}
	if (n == 0)
		return fail(err, errlen, "field 'seq': empty");
	*seq = v;
	return 0;
}

/*
 * parse_escape - the %XX at the cursor: two upper-case hex digits of a
 * byte that must be encoded (so there is one way to write each value)
 * and is not NUL (values are C strings).
 */
static int
parse_escape(struct cursor *c, unsigned char *out)
{
	unsigned char b;

	if (c->end - c->p < 3 || !is_upper_hex((unsigned char)c->p[1]) ||
	    !is_upper_hex((unsigned char)c->p[2]))
		return -1;
	b = (unsigned char)(hex_value((unsigned char)c->p[1]) << 4 |
	    hex_value((unsigned char)c->p[2]));
	if (b == 0 || !must_encode(b))
		return -1;
	*out = b;
	c->p += 3;
	return 0;
}

/* parse_value - decode one value up to the next space into dst */
static int
parse_value(struct cursor *c, const struct field *f, char *dst,
    char *err, size_t errlen)
{
	size_t	 n = 0;

	while (c->p < c->end && *c->p != ' ') {
		unsigned char b = (unsigned char)*c->p;

		if (b == '%') {
			if (parse_escape(c, &b) < 0)
				return fail(err, errlen, "field '%s', byte "
				    "%zu: want %%XX, upper-case hex, of a byte "
				    "that needs it", f->key, cursor_at(c));
		} else if (must_encode(b))
			return fail(err, errlen, "field '%s', byte %zu: raw "
			    "byte 0x%02X must be percent-encoded", f->key,
			    cursor_at(c), b);
		else
			c->p++;
		if (n + 1 >= f->size)
			return fail(err, errlen, "field '%s': longer than %zu "
			    "bytes", f->key, f->size - 1);
		dst[n++] = (char)b;
	}
	dst[n] = '\0';
	if (!f->valid(dst))
		return fail(err, errlen, "field '%s': want %s", f->key,
		    f->want);
	return 0;
}

/* ceremony_log_parse - one line (without LF) into rec, strictly */
int
ceremony_log_parse(const char *line, size_t len, struct ceremony_record *rec,
    char *err, size_t errlen)
{
	struct cursor c = { line, line, line + len };

	memset(rec, 0, sizeof(*rec));
	if (len > CEREMONY_LOG_LINE_MAX)
		return fail(err, errlen, "line of %zu bytes is longer than %d",
		    len, CEREMONY_LOG_LINE_MAX);
	if (parse_key(&c, "seq", err, errlen) < 0 ||
	    parse_seq(&c, &rec->seq, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		if (c.p == c.end || *c.p++ != ' ')
			return fail(err, errlen, "byte %zu: want a space and "
			    "field '%s'", cursor_at(&c), fields[i].key);
		if (parse_key(&c, fields[i].key, err, errlen) < 0 ||
		    parse_value(&c, &fields[i], field_put(rec, &fields[i]),
		    err, errlen) < 0)
			return -1;
	}
	if (c.p != c.end)
		return fail(err, errlen, "byte %zu: more after the last "
		    "field 'prev'", cursor_at(&c));
	return 0;
}

/* line_hash - hex SHA-256 of a line without its LF */
static int
line_hash(const char *line, size_t len, char hex[CEREMONY_LOG_HASH_HEX],
    char *err, size_t errlen)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(line, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 != HASH_LEN) {
		const char *why = ERR_reason_error_string(ERR_get_error());

		return fail(err, errlen, "EVP_Digest(SHA-256): %s",
		    why != NULL ? why : "failed");
	}
	for (unsigned int i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0x0f];
	}
	hex[HASH_LEN] = '\0';
	return 0;
}

/* summary_init - nothing verified yet */
static void
summary_init(struct ceremony_log_summary *sum)
{
	memset(sum, 0, sizeof(*sum));
	memcpy(sum->head, ZERO_HASH, sizeof(sum->head));
}

/*
 * log_open_read - the log as a stream, under a shared flock (so no
 * append is half done); 1 when there is no log.
 */
static int
log_open_read(const char *path, FILE **fpp, char *err, size_t errlen)
{
	struct stat st;
	int	 fd;

	*fpp = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0) {
		if (errno == ENOENT)
			return 1;
		return fail(err, errlen, "ceremony log '%s': open: %s", path,
		    strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		int	 saved = errno;

		(void)close(fd);
		return fail(err, errlen, "ceremony log '%s': fstat: %s", path,
		    strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		(void)close(fd);
		return fail(err, errlen, "ceremony log '%s': not a regular "
		    "file", path);
	}
	if (flock(fd, LOCK_SH) < 0 || (*fpp = fdopen(fd, "r")) == NULL) {
		int	 saved = errno;

		(void)close(fd);
		return fail(err, errlen, "ceremony log '%s': lock and read: "
		    "%s", path, strerror(saved));
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

/* walk_init - a pass from the start of an open log */
static void
walk_init(struct walk *w, const char *path, FILE *fp,
    struct ceremony_log_summary *sum)
{
	w->path = path;
	w->fp = fp;
	w->line_no = 0;
	w->len = 0;
	w->sum = sum;
	summary_init(sum);
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
	return fail(err, errlen, "ceremony log '%s': line %lu: %s", w->path,
	    w->line_no, why);
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
	if (line_hash(w->line, w->len, w->hash, why, sizeof(why)) < 0)
		return fail(err, errlen, "ceremony log '%s': line %lu: %s",
		    w->path, w->line_no, why);
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
		return fail(err, errlen, "ceremony log '%s': reading line "
		    "%lu: %s", w->path, w->line_no, strerror(errno));
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
 * walk_run - check every line; after each good one call fn (if any)
 * and advance the summary to it.
 */
static int
walk_run(struct walk *w, int (*fn)(void *, const struct ceremony_record *,
    const char *), void *ctx, char *err, size_t errlen)
{
	int	 rc;

	while ((rc = walk_next(w, err, errlen)) > 0) {
		if (fn != NULL && fn(ctx, &w->rec, w->hash) < 0)
			return fail(err, errlen, "ceremony log '%s': writing "
			    "record %lu: %s", w->path, w->rec.seq,
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

	summary_init(out);
	if ((rc = log_open_read(path, &fp, err, errlen)) != 0) {
		out->absent = rc == 1;
		return rc == 1 ? 0 : -1;
	}
	walk_init(&w, path, fp, out);
	rc = walk_run(&w, NULL, NULL, err, errlen);
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
		return fail(err, errlen, "ceremony log '%s': reading the last "
		    "record: %s", a->path, strerror(errno));
	if (tail[want - 1] != '\n')
		return fail(err, errlen, "ceremony log '%s': refusing to "
		    "append: the last line has no newline (truncated or "
		    "partly written); run 'log verify'", a->path);
	for (start = want - 1; start > 0 && tail[start - 1] != '\n'; start--)
		continue;
	if (start == 0 && off > 0)
		return fail(err, errlen, "ceremony log '%s': refusing to "
		    "append: the last line is longer than %d bytes", a->path,
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
		return fail(err, errlen, "ceremony log '%s': refusing to "
		    "append: the last line is not a record (%s); run 'log "
		    "verify'", a->path, why);
	if (last.seq == ULONG_MAX)
		return fail(err, errlen, "ceremony log '%s': full (seq %lu)",
		    a->path, last.seq);
	rec->seq = last.seq + 1;
	if (line_hash(line, len, rec->prev, why, sizeof(why)) < 0)
		return fail(err, errlen, "ceremony log '%s': %s", a->path, why);
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
		return fail(err, errlen, "reading the clock: %s",
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
		return fail(err, errlen, "ceremony log '%s': open to append: "
		    "%s", path, strerror(errno));
	if (flock(a->wfd, LOCK_EX) < 0 || fstat(a->wfd, &ws) < 0)
		return fail(err, errlen, "ceremony log '%s': lock: %s", path,
		    strerror(errno));
	if (!S_ISREG(ws.st_mode))
		return fail(err, errlen, "ceremony log '%s': not a regular "
		    "file", path);
	if ((a->rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0 || fstat(a->rfd, &rs) < 0)
		return fail(err, errlen, "ceremony log '%s': open to read: %s",
		    path, strerror(errno));
	if (rs.st_dev != ws.st_dev || rs.st_ino != ws.st_ino)
		return fail(err, errlen, "ceremony log '%s': replaced while "
		    "being opened", path);
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
		rc = fail(err, errlen, "ceremony log '%s': close: %s",
		    a->path, strerror(errno));
	a->rfd = a->wfd = -1;
	return rc;
}

/*
 * dir_sync - fsync the directory of path, so that a log just created
 * survives a crash.  Some file systems cannot sync directories (EINVAL).
 */
static int
dir_sync(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char	 dir[PATH_MAX];
	int	 n, fd, rc = 0;

	if (slash != NULL && slash - path >= PATH_MAX)
		return fail(err, errlen, "'%s': directory name too long", path);
	if (slash == NULL || slash == path)
		n = snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
	else
		n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
		    path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return fail(err, errlen, "'%s': directory name too long", path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail(err, errlen, "directory '%s': open: %s", dir,
		    strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = fail(err, errlen, "directory '%s': fsync: %s", dir,
		    strerror(errno));
	(void)close(fd);
	return rc;
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
		return fail(err, errlen, "ceremony log '%s': write: %s",
		    a->path, strerror(errno));
	if ((size_t)n != line->len) {
		if (ftruncate(a->wfd, a->size) < 0)
			return fail(err, errlen, "ceremony log '%s': short "
			    "write, and cutting it back failed: %s; run 'log "
			    "verify'", a->path, strerror(errno));
		return fail(err, errlen, "ceremony log '%s': short write "
		    "(%zd of %zu bytes), cut back off", a->path, n,
		    line->len);
	}
	if (fsync(a->wfd) < 0)
		return fail(err, errlen, "ceremony log '%s': fsync: %s",
		    a->path, strerror(errno));
	return a->size == 0 ? dir_sync(a->path, err, errlen) : 0;
}

/* record_write - format rec with its LF and write it */
static int
record_write(const struct appender *a, const struct ceremony_record *rec,
    char *err, size_t errlen)
{
	struct buf line;
	char	 why[WHY_MAX];
	int	 rc = -1;

	buf_init(&line, CEREMONY_LOG_LINE_MAX + 1);
	if (ceremony_log_format(rec, &line, why, sizeof(why)) < 0)
		(void)fail(err, errlen, "ceremony log '%s': refusing to "
		    "append: %s", a->path, why);
	else if (buf_append(&line, "\n", 1) < 0)
		(void)fail(err, errlen, "ceremony log '%s': %s", a->path,
		    strerror(errno));
	else
		rc = line_write(a, &line, err, errlen);
	buf_release(&line);
	return rc;
}

/* ceremony_log_append - chain rec to the log and write it durably */
int
ceremony_log_append(const char *path, struct ceremony_record *rec,
    char *err, size_t errlen)
{
	struct appender a;
	int	 rc = -1;

	if (appender_open(&a, path, err, errlen) == 0 &&
	    chain_to_last(&a, rec, err, errlen) == 0 &&
	    time_stamp(rec, err, errlen) == 0 &&
	    record_write(&a, rec, err, errlen) == 0)
		rc = 0;
	if (appender_close(&a, rc == 0 ? err : NULL, errlen) < 0)
		rc = -1;
	return rc;
}

/*
 * value_print - a value for people: printable ASCII as it is, anything
 * else (and '%') as %XX, so nothing in a record can move the cursor,
 * start a line of its own or change the terminal.
 */
static void
value_print(FILE *out, const char *v)
{
	if (*v == '\0')
		(void)fputs("(none)", out);
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (c < 0x20 || c >= 0x7f || c == '%')
			(void)fprintf(out, "%%%02X", c);
		else
			(void)putc(c, out);
	}
}

/* row_print - one aligned "label value" line of a record block */
static void
row_print(FILE *out, const char *label, const char *value)
{
	(void)fprintf(out, "  %-13s ", label);
	value_print(out, value);
	(void)putc('\n', out);
}

/*
 * transcript_record - one block per record at or after the first wanted.
 * Output errors are sticky in the stream; ceremony_log_transcript checks
 * them once at the end.
 */
static int
transcript_record(void *ctx, const struct ceremony_record *r,
    const char *hash)
{
	const struct transcript *t = ctx;

	if (r->seq < t->from)
		return 0;
	(void)fprintf(t->out, "\nRecord %lu\n", r->seq);
	row_print(t->out, "time", r->time);
	row_print(t->out, "operator", r->operator_name);
	row_print(t->out, "host", r->host);
	row_print(t->out, "token", r->token_label);
	row_print(t->out, "token serial", r->token_serial);
	row_print(t->out, "action", r->action);
	row_print(t->out, "institution", r->inst);
	row_print(t->out, "selector", r->selector);
	row_print(t->out, "key SHA-256", r->fpr);
	row_print(t->out, "result", r->result);
	row_print(t->out, "prev", r->prev);
	row_print(t->out, "record hash", hash);
	return ferror(t->out) ? -1 : 0;
}

/* transcript_head - what the transcript is of */
static void
transcript_head(FILE *out, const char *path, unsigned long from,
    const struct ceremony_log_summary *sum)
{
	(void)fputs("p11dkim ceremony log transcript\n\n", out);
	row_print(out, "log", path);
	if (sum->absent)
		(void)fputs("  (no log file: no records yet)\n", out);
	else if (from > sum->count)
		(void)fprintf(out, "  (no records from seq %lu: the log has "
		    "%lu)\n", from, sum->count);
	else
		(void)fprintf(out, "  %-13s %lu to %lu of %lu\n", "records",
		    from, sum->count, sum->count);
}

/* transcript_foot - the anchor, and room for signatures */
static void
transcript_foot(FILE *out, const struct ceremony_log_summary *sum)
{
	(void)fputs("\nThe log ends here. To verify it later, it must still "
	    "begin with these\nrecords, and record <count> must still have "
	    "this hash:\n\n", out);
	(void)fprintf(out, "  %-13s %s\n", "head hash", sum->head);
	(void)fprintf(out, "  %-13s %lu\n\n", "record count", sum->count);
	(void)fputs("Security officer: ______________________________  "
	    "Date: ______________\n\n", out);
	(void)fputs("Witness: ______________________________\n\n", out);
	(void)fputs("Witness: ______________________________\n", out);
}

/*
 * transcript_records - verify the whole log, then print it from the
 * start again: both passes run under the one shared lock, so they see
 * the same file.
 */
static int
transcript_records(const char *path, FILE *fp, const struct transcript *t,
    struct ceremony_log_summary *sum, char *err, size_t errlen)
{
	struct transcript copy = *t;
	struct walk w;

	walk_init(&w, path, fp, sum);
	if (walk_run(&w, NULL, NULL, err, errlen) < 0)
		return -1;
	if (fseek(fp, 0, SEEK_SET) < 0)
		return fail(err, errlen, "ceremony log '%s': rewind: %s", path,
		    strerror(errno));
	transcript_head(t->out, path, t->from, sum);
	walk_init(&w, path, fp, sum);
	return walk_run(&w, transcript_record, &copy, err, errlen);
}

/* ceremony_log_transcript - records from from_seq, anchor, signatures */
int
ceremony_log_transcript(const char *path, unsigned long from_seq,
    FILE *out, char *err, size_t errlen)
{
	struct transcript t = { out, from_seq > 0 ? from_seq : 1 };
	struct ceremony_log_summary sum;
	FILE	*fp;
	int	 rc;

	summary_init(&sum);
	if ((rc = log_open_read(path, &fp, err, errlen)) < 0)
		return -1;
	if (rc == 1) {
		sum.absent = 1;
		transcript_head(out, path, t.from, &sum);
	} else {
		rc = transcript_records(path, fp, &t, &sum, err, errlen);
		(void)fclose(fp);	/* read-only: nothing to lose */
		if (rc < 0)
			return -1;
	}
	transcript_foot(out, &sum);
	if (fflush(out) != 0 || ferror(out))
		return fail(err, errlen, "writing the transcript: %s",
		    strerror(errno));
	return 0;
}
