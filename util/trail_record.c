/*
 * trail_record.c - one line of the signing trail (see
 * include/p11dkim/trail_record.h): formatting, parsing, and what a
 * search compares.
 *
 * Security: a line read back may be anything (a damaged file, a line
 * cut by a full disk): every field is bounded and a line that is not a
 * whole record is skipped, never half taken.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "p11dkim/trail_record.h"

#define TIME_FMT	"%Y-%m-%dT%H:%M:%SZ"

/* A field of the line: its key, where its text lives in a record. */
struct field {
	const char *key;
	size_t	 off, max;		/* in struct trail_record; max: bytes */
};

#define TEXT(k, m)	{ k, offsetof(struct trail_record, m), \
			  sizeof(((struct trail_record *)0)->m) }

static const struct field fields[] = {
	TEXT("inst", inst), TEXT("front", front), TEXT("client", client),
	TEXT("d", d), TEXT("s", s), TEXT("a", a), TEXT("bh", bh),
	TEXT("b-sha256", bhash), TEXT("msgid", msgid),
};
#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

/* plain - a byte written as it is in a value */
static int
plain(unsigned char c)
{
	return c > ' ' && c < 127 && c != '%';
}

/* put_value - " key=value", escaped, at out + *n; -1 when it does not fit */
static int
put_value(const char *key, const char *v, char *out, size_t len, size_t *n)
{
	static const char hex[] = "0123456789ABCDEF";
	int	 w = snprintf(out + *n, len - *n, " %s=", key);

	if (w < 0 || (size_t)w >= len - *n)
		return -1;
	*n += (size_t)w;
	if (v[0] == '\0' || strcmp(v, "-") == 0) {
		if (len - *n < 4)
			return -1;
		memcpy(out + *n, v[0] ? "%2D" : "-", v[0] ? 3 : 1);
		*n += v[0] ? 3 : 1;
		return 0;
	}
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (len - *n < 4)
			return -1;
		if (plain(c))
			out[(*n)++] = (char)c;
		else {
			out[(*n)++] = '%';
			out[(*n)++] = hex[c >> 4];
			out[(*n)++] = hex[c & 15];
		}
	}
	return 0;
}

/* trail_format - the record as one line with its newline */
int
trail_format(const struct trail_record *r, char *out, size_t len)
{
	struct tm tm;
	time_t	 t = (time_t)r->t;
	size_t	 n;
	int	 w;

	if (len < 32 || gmtime_r(&t, &tm) == NULL)
		return -1;
	memcpy(out, "t=", 2);
	if ((n = strftime(out + 2, len - 2, TIME_FMT, &tm)) == 0)
		return -1;
	n += 2;
	for (size_t i = 0; i < NFIELDS; i++) {
		const char *v = (const char *)r + fields[i].off;

		if (memchr(v, '\0', fields[i].max) == NULL ||
		    put_value(fields[i].key, v, out, len, &n) < 0)
			return -1;
	}
	w = snprintf(out + n, len - n, " size=%" PRIu64 "\n", r->size);
	if (w < 0 || (size_t)w >= len - n)
		return -1;
	return (int)(n + (size_t)w);
}

/* hexval - a hex digit's value, or -1 */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* get_value - an escaped value of n bytes into out (max with NUL); 0/-1 */
static int
get_value(const char *v, size_t n, char *out, size_t max)
{
	size_t	 o = 0;

	if (n == 1 && v[0] == '-') {
		out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		int	 c = (unsigned char)v[i];

		if (c == '%') {
			int	 h, l;

			if (i + 2 >= n)
				return -1;
			if ((h = hexval(v[i + 1])) < 0 || (l = hexval(v[i + 2])) < 0)
				return -1;
			c = h << 4 | l;
			i += 2;
		} else if (!plain((unsigned char)c))
			return -1;
		if (c == 0 || o + 1 >= max)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* parse_time - "t=" value; 0 or -1 */
static int
parse_time(const char *v, size_t n, int64_t *out)
{
	char	 buf[32];
	struct tm tm;
	const char *end;

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(buf, TIME_FMT, &tm)) == NULL || *end != '\0')
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* parse_size - "size=" value; 0 or -1 */
static int
parse_size(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

/* parse_field - one key=value of n bytes; seen: a bit per field; 0/-1 */
static int
parse_field(const char *p, size_t n, struct trail_record *r, unsigned *seen)
{
	const char *eq = memchr(p, '=', n);
	size_t	 klen, vlen;

	if (eq == NULL)
		return -1;
	klen = (size_t)(eq - p);
	vlen = n - klen - 1;
	if (klen == 1 && p[0] == 't') {
		*seen |= 1U << NFIELDS;
		return parse_time(eq + 1, vlen, &r->t);
	}
	if (klen == 4 && memcmp(p, "size", 4) == 0) {
		*seen |= 1U << (NFIELDS + 1);
		return parse_size(eq + 1, vlen, &r->size);
	}
	for (size_t i = 0; i < NFIELDS; i++)
		if (strlen(fields[i].key) == klen &&
		    memcmp(fields[i].key, p, klen) == 0) {
			*seen |= 1U << i;
			return get_value(eq + 1, vlen, (char *)r + fields[i].off,
			    fields[i].max);
		}
	return 0;			/* a field of a later version */
}

/* trail_parse - a line as a record; 0, or -1 when it is not one */
int
trail_parse(const char *line, size_t len, struct trail_record *r)
{
	const unsigned all = (1U << (NFIELDS + 2)) - 1;
	unsigned seen = 0;
	size_t	 i = 0, j;

	memset(r, 0, sizeof(*r));
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len >= TRAIL_LINE_MAX)
		return -1;
	while (i < len) {
		for (j = i; j < len && line[j] != ' '; j++)
			;
		if (j == i || parse_field(line + i, j - i, r, &seen) < 0)
			return -1;
		i = j + 1;
	}
	return seen == all ? 0 : -1;
}

/* trail_bhash - the hex SHA-256 of a signature's bytes */
int
trail_bhash(const unsigned char *sig, size_t len,
    char out[TRAIL_BHASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];

	if (len == 0 || SHA256(sig, len, md) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[TRAIL_BHASH_LEN] = '\0';
	return 0;
}

/* is_b64 - a base64 character (the alphabet and the padding) */
static int
is_b64(unsigned char c)
{
	return isalnum(c) || c == '+' || c == '/' || c == '=';
}

/* skip_tag - past a leading "bh=" or "b=" (after whitespace) */
static const char *
skip_tag(const char *in)
{
	const char *p = in;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (strncmp(p, "bh", 2) == 0)
		p += 2;
	else if (*p == 'b')
		p++;
	else
		return in;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return *p == '=' ? p + 1 : in;
}

/* trail_b64_clean - a tag value as found in a header, as bare base64 */
int
trail_b64_clean(const char *in, char *out, size_t len)
{
	size_t	 n = 0;
	const char *p = skip_tag(in);

	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == ';' && p[1 + strspn(p + 1, " \t\r\n")] == '\0')
			break;		/* the tag's end */
		if (!is_b64(c) || n + 1 >= len)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

/* trail_bhash_of_b - the b-sha256 of a b= value as found in a header */
int
trail_bhash_of_b(const char *in, char out[TRAIL_BHASH_LEN + 1])
{
	char	 b64[TRAIL_SIG_B64_MAX + 1];
	unsigned char raw[TRAIL_SIG_B64_MAX / 4 * 3];
	size_t	 n, pad = 0;
	int	 got;

	if (trail_b64_clean(in, b64, sizeof(b64)) < 0 ||
	    (n = strlen(b64)) % 4 != 0)
		return -1;
	for (size_t i = n; i > 0 && b64[i - 1] == '=' && pad < 2; i--)
		pad++;
	if (strchr(b64, '=') != NULL && strchr(b64, '=') < b64 + n - pad)
		return -1;		/* '=' inside */
	got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (got < 0 || (size_t)got < pad)
		return -1;
	return trail_bhash(raw, (size_t)got - pad, out);
}

/* trail_msgid_norm - a Message-ID as compared and recorded */
void
trail_msgid_norm(const char *in, size_t len, char *out)
{
	size_t	 n = 0;

	for (size_t i = 0; i < len && n < TRAIL_MSGID_MAX; i++)
		if ((unsigned char)in[i] > ' ' && (unsigned char)in[i] < 127)
			out[n++] = in[i];
	out[n] = '\0';
	if (n >= 2 && out[0] == '<' && out[n - 1] == '>') {
		memmove(out, out + 1, n - 2);
		out[n - 2] = '\0';
	}
}

/* trail_time_parse - a time for --since */
int
trail_time_parse(const char *s, int64_t *out)
{
	static const char *const formats[] = { TIME_FMT, "%Y-%m-%d %H:%M:%S",
	    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d" };
	struct tm tm;
	const char *end;
	char	*stop;
	long long v;

	if (s[0] == '@') {
		if (s[1] < '0' || s[1] > '9')
			return -1;
		v = strtoll(s + 1, &stop, 10);
		if (*stop != '\0' || v == LLONG_MAX)
			return -1;
		*out = v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, formats[i], &tm)) != NULL && *end == '\0') {
			*out = (int64_t)timegm(&tm);
			return 0;
		}
	}
	return -1;
}

/* trail_query_init - a search for every record */
void
trail_query_init(struct trail_query *q)
{
	memset(q, 0, sizeof(*q));
	q->since = INT64_MIN;
}

/* trail_match - does the record match the search? */
int
trail_match(const struct trail_query *q, const struct trail_record *r)
{
	return r->t >= q->since &&
	    (!q->has_msgid || strcmp(q->msgid, r->msgid) == 0) &&
	    (!q->has_bh || strcmp(q->bh, r->bh) == 0) &&
	    (!q->has_b || strcmp(q->bhash, r->bhash) == 0);
}
