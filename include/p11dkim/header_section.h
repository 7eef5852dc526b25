/*
 * header_section.h - the header section of a message, parsed as it streams.
 *
 * Bytes are fed in chunks split anywhere; the parser stops right after the
 * blank line that ends the section and says how much it consumed, so the
 * caller passes the rest on as body.  Fields are stored with CRLF line
 * endings whatever the input used (CRLF or bare LF), folded lines kept.
 *
 * Refused, with the line number: a line that is neither a field ("name:"),
 * a continuation (starting with WSP) nor the blank separator; a
 * continuation before the first field; a bare CR; a NUL byte; more bytes
 * or fields than the limits set at init.  RFC 5322 2.2 and 3.6.8 (with
 * the obsolete WSP before the colon of 4.5.8, which relaxed
 * canonicalization strips) define what a field is.
 */
#ifndef P11DKIM_HEADER_SECTION_H
#define P11DKIM_HEADER_SECTION_H

#include <stddef.h>

#include "p11dkim/buf.h"
#include "p11dkim/dkim_err.h"

struct header_field {
	size_t	 off;		/* start of the raw field in text */
	size_t	 len;		/* raw length, final CRLF included */
	size_t	 name_len;	/* length of the name, no WSP, no colon */
};

struct header_section {
	struct buf text;	/* the fields, CRLF line endings */
	struct header_field *fields;
	size_t	 nfields;
	size_t	 fields_cap;
	size_t	 max_fields;
	size_t	 field_start;	/* start of the field being read */
	unsigned line;		/* current input line, from 1 */
	unsigned field_line;	/* line where that field started */
	int	 state;
	int	 in_field;	/* a field has been started */
};

/* header_section_init - empty section with limits on bytes and fields */
void	header_section_init(struct header_section *, size_t max_bytes,
	    size_t max_fields);

/*
 * header_section_feed - parse a chunk.  *consumed tells how many bytes
 * belong to the header section (all of them, unless the blank line was
 * in this chunk).  Returns 0, or -1 with err set.
 */
int	header_section_feed(struct header_section *, const char *, size_t,
	    size_t *consumed, struct dkim_err *);

/* header_section_end - the message ended; close the last field */
int	header_section_end(struct header_section *, struct dkim_err *);

/* header_section_complete - 1 once the blank line (or the end) was read */
int	header_section_complete(const struct header_section *);

/* header_section_name_is - 1 when field i's name is name (any case) */
int	header_section_name_is(const struct header_section *, size_t i,
	    const char *name);

/* header_section_count - number of fields named name (any case) */
size_t	header_section_count(const struct header_section *, const char *);

/*
 * header_section_value - value of the last field named name, the raw
 * text after the colon without the final CRLF (folds kept); NULL if
 * none.  The pointer is valid until the section changes.
 */
const char *header_section_value(const struct header_section *,
	    const char *name, size_t *len);

/* header_section_release - free the storage */
void	header_section_release(struct header_section *);

#endif
