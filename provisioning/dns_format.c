/*
 * dns_format.c - zone-file text for the records of a key ceremony (see
 * include/p11dkim/dns_record.h): a DKIM key record as a TXT cut into
 * character-strings, and the CNAME that delegates a selector.
 *
 * Security notes: a name is written only when it cannot change the
 * meaning of the line (no white space, quotes, parentheses, ';' or '\',
 * no '@' or '$' at its start); TXT text is quoted with '"' and '\'
 * escaped and every byte outside printable ASCII written as \DDD.  On
 * failure the output buffer is cut back to what it held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "p11dkim/buf.h"
#include "p11dkim/dns_record.h"
#include "dns_int.h"

/*
 * name_printable - a name we are willing to write into a zone file: not
 * empty, no white space, quotes, parentheses, ';' or '\' (which would
 * change the meaning of the line), no empty label, not '@' or '$...'.
 */
static int
name_printable(const char *s)
{
	size_t	 len;

	if (s == NULL || (len = strlen(s)) == 0 || len > DNS_NAME_TEXT_MAX)
		return 0;
	if (strcmp(s, ".") == 0)
		return 1;
	if (s[0] == '.' || s[0] == '$' || strcmp(s, "@") == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\"();\\", c) != NULL)
			return 0;
		if (c == '.' && s[i + 1] == '.')
			return 0;
	}
	return 1;
}

/* name_append_absolute - append a name with exactly one trailing dot */
static int
name_append_absolute(struct buf *out, const char *name)
{
	size_t	 len = strlen(name);

	return buf_printf(out, "%s%s", name,
	    name[len - 1] == '.' ? "" : ".");
}

/*
 * txt_append_string - append one RFC 1035 5.1 quoted character-string:
 * '"' and '\' escaped, bytes outside printable ASCII as \DDD.
 */
static int
txt_append_string(struct buf *out, const char *s, size_t n)
{
	char	 quoted[4 * TXT_STRING_MAX + 3];
	size_t	 q = 0;

	quoted[q++] = '"';
	for (size_t i = 0; i < n && i < TXT_STRING_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f) {
			(void)snprintf(quoted + q, sizeof quoted - q, "\\%03u",
			    (unsigned)c);
			q += 4;
			continue;
		}
		if (c == '"' || c == '\\')
			quoted[q++] = '\\';
		quoted[q++] = (char)c;
	}
	quoted[q++] = '"';
	return buf_append(out, quoted, q);
}

/* txt_append_chunks - n bytes as strings of at most 255, one a line */
static int
txt_append_chunks(struct buf *out, const char *s, size_t n, int *first)
{
	do {
		size_t	 len = n < TXT_STRING_MAX ? n : TXT_STRING_MAX;

		if (buf_append_str(out, *first ? " ( " : "\n\t") < 0 ||
		    txt_append_string(out, s, len) < 0)
			return -1;
		*first = 0;
		s += len;
		n -= len;
	} while (n > 0);
	return 0;
}

/*
 * dkim_p_offset - where the p= tag of a DKIM key record begins (RFC 6376
 * 3.6.1), 0 when the text has none after its first byte.  Splitting the
 * record there puts the tag list and the key on separate lines.
 */
static size_t
dkim_p_offset(const char *text)
{
	const char *semi;
	size_t	 i = 0, j;

	for (;;) {
		while (dns_is_wsp(text[i]))
			i++;
		if (text[i] == 'p') {
			for (j = i + 1; dns_is_wsp(text[j]); j++)
				continue;
			if (text[j] == '=')
				return i;
		}
		if ((semi = strchr(text + i, ';')) == NULL)
			return 0;
		i = (size_t)(semi - text) + 1;
	}
}

/* dns_txt_format - append one zone-file TXT record for text at owner */
int
dns_txt_format(const char *owner, const char *text, struct buf *out)
{
	size_t	 start = out->len, split, len;
	int	 first = 1;

	if (!name_printable(owner) || text == NULL) {
		errno = EINVAL;
		return -1;
	}
	len = strlen(text);
	split = dkim_p_offset(text);
	if (name_append_absolute(out, owner) < 0 ||
	    buf_append_str(out, " IN TXT") < 0 ||
	    (split > 0 && txt_append_chunks(out, text, split, &first) < 0) ||
	    txt_append_chunks(out, text + split, len - split, &first) < 0 ||
	    buf_append_str(out, " )\n") < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

/* dns_cname_format - append "owner. IN CNAME target." and a newline */
int
dns_cname_format(const char *owner, const char *target, struct buf *out)
{
	size_t	 start = out->len;

	if (!name_printable(owner) || !name_printable(target)) {
		errno = EINVAL;
		return -1;
	}
	if (name_append_absolute(out, owner) < 0 ||
	    buf_append_str(out, " IN CNAME ") < 0 ||
	    name_append_absolute(out, target) < 0 ||
	    buf_append_str(out, "\n") < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}
