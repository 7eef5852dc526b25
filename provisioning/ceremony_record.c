/*
 * ceremony_record.c - one record of the ceremony log as one line (see
 * include/p11dkim/ceremony_log.h and docs/CEREMONY-LOG.md): the check of
 * its fields, the formatter, the strict parser, and the line's hash.
 *
 * One record per line: key=value fields in a fixed order, separated by
 * single spaces, values percent-encoded.  The hash of a record is the
 * SHA-256 of its line without the LF; the next record's prev holds it.
 *
 * Security notes: the parser accepts only the exact text the formatter
 * writes (canonical %XX, no optional spaces), so a line has one meaning
 * and one hash.  A line is at most CEREMONY_LOG_LINE_MAX bytes, need not
 * be NUL-terminated, and a NUL byte (also as %00) is never data; every
 * value is decoded into a fixed field with its length checked first.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "p11dkim/buf.h"
#include "p11dkim/ceremony_log.h"
#include "ceremony_int.h"

#define HASH_LEN	64		/* hex digits in a SHA-256 */
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

/*
 * ceremony_fail - write a message to err (when there is one) and return
 * -1.  A message longer than errlen is cut short, which is all it can do.
 */
int
ceremony_fail(char *err, size_t errlen, const char *fmt, ...)
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

/* ceremony_hash_ok - exactly 64 lower-case hex digits */
int
ceremony_hash_ok(const char *v)
{
	return valid_hash(v);
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

/* valid_result - "ok", "ok: " and a note, or "failed: " and a reason */
static int
valid_result(const char *v)
{
	return strcmp(v, "ok") == 0 ||
	    (strncmp(v, "ok: ", 4) == 0 && v[4] != '\0') ||
	    (strncmp(v, "failed: ", 8) == 0 && v[8] != '\0');
}

/* ceremony_result_ok - "ok", or "ok: " and a note */
int
ceremony_result_ok(const char *result)
{
	return strcmp(result, "ok") == 0 || (strncmp(result, "ok: ", 4) == 0 &&
	    result[4] != '\0');
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
	    "\"ok\", \"ok: <note>\" or \"failed: <reason>\""),
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
		return ceremony_fail(err, errlen, "field 'seq': want 1 or "
		    "more");
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		const char *v = field_get(rec, &fields[i]);

		if (memchr(v, '\0', fields[i].size) == NULL)
			return ceremony_fail(err, errlen, "field '%s': not "
			    "NUL-terminated within %zu bytes", fields[i].key,
			    fields[i].size);
		if (!fields[i].valid(v))
			return ceremony_fail(err, errlen, "field '%s': want %s",
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
		return ceremony_fail(err, errlen, "formatting record %lu: %s",
		    rec->seq, strerror(saved));
	}
	if (out->len - start > CEREMONY_LOG_LINE_MAX) {
		size_t	 len = out->len - start;

		buf_truncate(out, start);
		return ceremony_fail(err, errlen, "record %lu: line of %zu "
		    "bytes is longer than %d", rec->seq, len,
		    CEREMONY_LOG_LINE_MAX);
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
		return ceremony_fail(err, errlen, "byte %zu: want field '%s'",
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
			return ceremony_fail(err, errlen, "field 'seq': want a "
			    "number from 1 to %lu without leading zeros",
			    ULONG_MAX);
		v = v * 10 + d;
	}
	if (n == 0)
		return ceremony_fail(err, errlen, "field 'seq': empty");
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
				return ceremony_fail(err, errlen, "field '%s', "
				    "byte %zu: want %%XX, upper-case hex, of a "
				    "byte that needs it", f->key, cursor_at(c));
		} else if (must_encode(b))
			return ceremony_fail(err, errlen, "field '%s', byte "
			    "%zu: raw byte 0x%02X must be percent-encoded",
			    f->key, cursor_at(c), b);
		else
			c->p++;
		if (n + 1 >= f->size)
			return ceremony_fail(err, errlen, "field '%s': longer "
			    "than %zu bytes", f->key, f->size - 1);
		dst[n++] = (char)b;
	}
	dst[n] = '\0';
	if (!f->valid(dst))
		return ceremony_fail(err, errlen, "field '%s': want %s", f->key,
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
		return ceremony_fail(err, errlen, "line of %zu bytes is longer "
		    "than %d", len, CEREMONY_LOG_LINE_MAX);
	if (parse_key(&c, "seq", err, errlen) < 0 ||
	    parse_seq(&c, &rec->seq, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		if (c.p == c.end || *c.p++ != ' ')
			return ceremony_fail(err, errlen, "byte %zu: want a "
			    "space and field '%s'", cursor_at(&c),
			    fields[i].key);
		if (parse_key(&c, fields[i].key, err, errlen) < 0 ||
		    parse_value(&c, &fields[i], field_put(rec, &fields[i]),
		    err, errlen) < 0)
			return -1;
	}
	if (c.p != c.end)
		return ceremony_fail(err, errlen, "byte %zu: more after the "
		    "last field 'prev'", cursor_at(&c));
	return 0;
}

/* ceremony_line_hash - hex SHA-256 of a line without its LF */
int
ceremony_line_hash(const char *line, size_t len,
    char hex[CEREMONY_LOG_HASH_HEX], char *err, size_t errlen)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(line, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 != HASH_LEN) {
		const char *why = ERR_reason_error_string(ERR_get_error());

		return ceremony_fail(err, errlen, "EVP_Digest(SHA-256): %s",
		    why != NULL ? why : "failed");
	}
	for (unsigned int i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0x0f];
	}
	hex[HASH_LEN] = '\0';
	return 0;
}
