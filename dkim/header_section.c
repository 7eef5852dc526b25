/*
 * header_section.c - streaming parser of a message's header section
 * (RFC 5322 2.2, 3.6.8).  See include/p11dkim/header_section.h.
 *
 * Security: the text and the field index are bounded by the limits given
 * at init; every refusal names the input line, never the content.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "p11dkim/header_section.h"

enum {
	HS_LINE_START,		/* at the start of a line */
	HS_IN_LINE,		/* inside a field line */
	HS_CR,			/* after a CR inside a line */
	HS_BLANK_CR,		/* after a CR at the start of a line */
	HS_DONE,		/* the blank line was read */
	HS_FAILED		/* an error was reported */
};

#define IS_WSP(c)	((c) == ' ' || (c) == '\t')

/* header_section_init - empty section with limits on bytes and fields */
void
header_section_init(struct header_section *hs, size_t max_bytes,
    size_t max_fields)
{
	memset(hs, 0, sizeof(*hs));
	buf_init(&hs->text, max_bytes);
	hs->max_fields = max_fields;
	hs->line = 1;
	hs->state = HS_LINE_START;
}

/* fail - record a refusal and stop the parser */
static int
fail(struct header_section *hs, struct dkim_err *err,
    enum dkim_status status, const char *what)
{
	hs->state = HS_FAILED;
	return dkim_err_set(err, status, "header line %u: %s", hs->line, what);
}

/* append - store header text, refusing past the size limit */
static int
append(struct header_section *hs, const char *p, size_t n,
    struct dkim_err *err)
{
	if (buf_append(&hs->text, p, n) == 0)
		return 0;
	if (errno == ENOMEM)
		return fail(hs, err, DKIM_ENOMEM, "out of memory");
	hs->state = HS_FAILED;
	return dkim_err_set(err, DKIM_ELIMIT, "header section larger than "
	    "the limit of %zu bytes", hs->text.max);
}

/* field_name_len - length of a valid field name at p, or 0 (RFC 5322 3.6.8) */
static size_t
field_name_len(const char *p, size_t len)
{
	size_t	 n, i;

	for (n = 0; n < len && p[n] >= 33 && p[n] <= 126 && p[n] != ':'; n++)
		;
	for (i = n; i < len && IS_WSP(p[i]); i++)
		;
	return n > 0 && i < len && p[i] == ':' ? n : 0;
}

/* close_field - the current field ended: check its name and index it */
static int
close_field(struct header_section *hs, struct dkim_err *err)
{
	struct header_field *f;
	size_t	 name_len, len;

	if (!hs->in_field)
		return 0;
	hs->in_field = 0;
	len = hs->text.len - hs->field_start;
	name_len = field_name_len(hs->text.data + hs->field_start, len);
	if (name_len == 0) {
		hs->line = hs->field_line;
		return fail(hs, err, DKIM_EMESSAGE, "not a header field "
		    "(no field name followed by a colon)");
	}
	if (hs->nfields == hs->fields_cap) {
		size_t cap = hs->fields_cap ? hs->fields_cap * 2 : 32;

		if (cap > hs->max_fields)
			cap = hs->max_fields;
		f = reallocarray(hs->fields, cap, sizeof(*f));
		if (f == NULL)
			return fail(hs, err, DKIM_ENOMEM, "out of memory");
		hs->fields = f;
		hs->fields_cap = cap;
	}
	f = &hs->fields[hs->nfields++];
	f->off = hs->field_start;
	f->len = len;
	f->name_len = name_len;
	return 0;
}

/* open_field - a line that starts a new field */
static int
open_field(struct header_section *hs, struct dkim_err *err)
{
	if (close_field(hs, err) < 0)
		return -1;
	if (hs->nfields >= hs->max_fields) {
		hs->state = HS_FAILED;
		return dkim_err_set(err, DKIM_ELIMIT, "more than %zu header "
		    "fields", hs->max_fields);
	}
	hs->in_field = 1;
	hs->field_start = hs->text.len;
	hs->field_line = hs->line;
	return 0;
}

/* line_start - the first byte of a line decides what the line is */
static int
line_start(struct header_section *hs, char c, struct dkim_err *err)
{
	if (c == '\r') {
		hs->state = HS_BLANK_CR;
		return 0;
	}
	if (c == '\n') {
		hs->state = HS_DONE;
		return close_field(hs, err);
	}
	if (IS_WSP(c)) {
		if (!hs->in_field)
			return fail(hs, err, DKIM_EMESSAGE, "continuation "
			    "line before the first header field");
	} else if (open_field(hs, err) < 0) {
		return -1;
	}
	hs->state = HS_IN_LINE;
	return 0;
}

/* line_end - a line ended (CRLF or bare LF): store CRLF */
static int
line_end(struct header_section *hs, struct dkim_err *err)
{
	hs->state = HS_LINE_START;
	hs->line++;
	return append(hs, "\r\n", 2, err);
}

/* in_line - bytes of a field line up to the next CR, LF or NUL */
static size_t
in_line(struct header_section *hs, const char *p, size_t len,
    struct dkim_err *err)
{
	size_t	 n;

	for (n = 0; n < len && p[n] != '\r' && p[n] != '\n' && p[n] != '\0';
	    n++)
		;
	if (n > 0 && append(hs, p, n, err) < 0)
		return 0;
	if (n == len)
		return n;
	if (p[n] == '\0') {
		fail(hs, err, DKIM_EMESSAGE, "NUL byte in a header field");
		return 0;
	}
	if (p[n] == '\r')
		hs->state = HS_CR;
	else if (line_end(hs, err) < 0)
		return 0;
	return n + 1;
}

/* header_section_feed - parse a chunk; stops after the blank line */
int
header_section_feed(struct header_section *hs, const char *data, size_t len,
    size_t *consumed, struct dkim_err *err)
{
	size_t	 i = 0, n;

	*consumed = 0;
	while (i < len && hs->state != HS_DONE) {
		switch (hs->state) {
		case HS_LINE_START:
			if (line_start(hs, data[i++], err) < 0)
				return -1;
			if (hs->state == HS_IN_LINE &&
			    append(hs, data + i - 1, 1, err) < 0)
				return -1;
			break;
		case HS_IN_LINE:
			if ((n = in_line(hs, data + i, len - i, err)) == 0)
				return -1;
			i += n;
			break;
		case HS_CR:
		case HS_BLANK_CR:
			if (data[i++] != '\n')
				return fail(hs, err, DKIM_EMESSAGE,
				    "CR not followed by LF");
			if (hs->state == HS_BLANK_CR) {
				hs->state = HS_DONE;
				if (close_field(hs, err) < 0)
					return -1;
			} else if (line_end(hs, err) < 0) {
				return -1;
			}
			break;
		default:
			return dkim_err_set(err, DKIM_ESTATE,
			    "header section fed after an error");
		}
	}
	*consumed = i;
	return 0;
}

/*
 * header_section_end - the message ended inside the header section (no
 * blank line, no body).  A last line without its line ending gets CRLF,
 * as it will on the wire.
 */
int
header_section_end(struct header_section *hs, struct dkim_err *err)
{
	switch (hs->state) {
	case HS_DONE:
		return 0;
	case HS_IN_LINE:
		if (line_end(hs, err) < 0)
			return -1;
		break;
	case HS_LINE_START:
		break;
	case HS_CR:
	case HS_BLANK_CR:
		return fail(hs, err, DKIM_EMESSAGE, "CR not followed by LF");
	default:
		return dkim_err_set(err, DKIM_ESTATE,
		    "header section ended after an error");
	}
	hs->state = HS_DONE;
	return close_field(hs, err);
}

/* header_section_complete - 1 once the blank line (or the end) was read */
int
header_section_complete(const struct header_section *hs)
{
	return hs->state == HS_DONE;
}

/* header_section_name_is - 1 when field i's name is name (any case) */
int
header_section_name_is(const struct header_section *hs, size_t i,
    const char *name)
{
	const struct header_field *f = &hs->fields[i];

	return strlen(name) == f->name_len &&
	    strncasecmp(hs->text.data + f->off, name, f->name_len) == 0;
}

/* header_section_count - number of fields named name (any case) */
size_t
header_section_count(const struct header_section *hs, const char *name)
{
	size_t	 i, n = 0;

	for (i = 0; i < hs->nfields; i++)
		n += (size_t)header_section_name_is(hs, i, name);
	return n;
}

/* header_section_value - raw value of the last field named name */
const char *
header_section_value(const struct header_section *hs, const char *name,
    size_t *len)
{
	const struct header_field *f;
	const char *v;
	size_t	 i;

	for (i = hs->nfields; i-- > 0;) {
		if (!header_section_name_is(hs, i, name))
			continue;
		f = &hs->fields[i];
		v = memchr(hs->text.data + f->off + f->name_len, ':',
		    f->len - f->name_len);
		v++;
		*len = (size_t)(hs->text.data + f->off + f->len - 2 - v);
		return v;
	}
	return NULL;
}

/* header_section_release - free the storage */
void
header_section_release(struct header_section *hs)
{
	buf_release(&hs->text);
	free(hs->fields);
	hs->fields = NULL;
	hs->nfields = hs->fields_cap = 0;
}
