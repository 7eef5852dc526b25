/*
 * canon_header.c - header field canonicalization, RFC 6376 3.4.1 (simple)
 * and 3.4.2 (relaxed).  See include/p11dkim/canon_header.h.
 */
#include <string.h>

#include "p11dkim/canon_header.h"

#define IS_WSP(c)	((c) == ' ' || (c) == '\t')

/*
 * relaxed_value - RFC 6376 3.4.2: unfold (drop the CRLF of each folded
 * line), turn every WSP run into one SP, and drop WSP at the start and
 * end of the value.  v..end is the value after the colon, CRLF included.
 */
static int
relaxed_value(const char *v, const char *end, struct buf *out)
{
	char	 chunk[256];
	size_t	 n = 0;
	int	 wsp = 0, started = 0;

	for (; v < end; v++) {
		if (*v == '\r' || *v == '\n')
			continue;			/* unfold */
		if (IS_WSP(*v)) {
			wsp = started;
			continue;
		}
		if (wsp)
			chunk[n++] = ' ';
		chunk[n++] = *v;
		wsp = 0;
		started = 1;
		if (n >= sizeof(chunk) - 2) {
			if (buf_append(out, chunk, n) < 0)
				return -1;
			n = 0;
		}
	}
	chunk[n++] = '\r';
	chunk[n++] = '\n';
	return buf_append(out, chunk, n);
}

/* relaxed_name - RFC 6376 3.4.2: the field name in lower case, then ':' */
static int
relaxed_name(const char *field, size_t name_len, struct buf *out)
{
	char	 name[128];
	size_t	 i, n;

	for (i = 0; i < name_len; i += n) {
		n = name_len - i < sizeof(name) ? name_len - i : sizeof(name);
		for (size_t j = 0; j < n; j++) {
			char c = field[i + j];

			name[j] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		if (buf_append(out, name, n) < 0)
			return -1;
	}
	return buf_append(out, ":", 1);
}

/* canon_header - append the canonical form of one field */
int
canon_header(enum dkim_canon mode, const char *field, size_t len,
    size_t name_len, struct buf *out)
{
	const char *colon;

	if (mode == DKIM_CANON_SIMPLE)
		return buf_append(out, field, len);	/* 3.4.1: unchanged */
	colon = memchr(field + name_len, ':', len - name_len);
	if (colon == NULL)
		colon = field + len - 1;	/* header_section never does this */
	if (relaxed_name(field, name_len, out) < 0)
		return -1;
	return relaxed_value(colon + 1, field + len, out);
}
