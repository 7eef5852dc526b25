/*
 * canon_header.h - header field canonicalization (RFC 6376 3.4.1, 3.4.2).
 *
 * A field is given as its raw text with CRLF line endings, folded lines
 * included, ending in CRLF (the form header_section stores).  The
 * canonical form is appended to a bounded buf.
 */
#ifndef P11DKIM_CANON_HEADER_H
#define P11DKIM_CANON_HEADER_H

#include <stddef.h>

#include "p11dkim/buf.h"
#include "p11dkim/dkim_alg.h"

/*
 * canon_header - append the canonical form of one field.  name_len is the
 * length of the field name (without any WSP before the colon); the colon
 * follows it after optional WSP.  Returns -1 (errno from buf) on overflow.
 */
int	canon_header(enum dkim_canon, const char *field, size_t len,
	    size_t name_len, struct buf *out);

#endif
