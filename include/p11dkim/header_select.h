/*
 * header_select.h - which header fields a signature covers (RFC 6376 5.4).
 *
 * The signer lists field names to sign; an entry ending in '*' ("List-*")
 * matches every field name with that prefix.  Each listed name is put in
 * h= once per instance in the message, and the instances are hashed from
 * the bottom of the header section up (5.4.2).  A name on the oversign
 * list is put in h= once more than it occurs (once when absent): the
 * extra entry matches no field, so a verifier fails the signature if
 * anyone adds such a field later (8.15).  From is always signed.  A
 * field whose name cannot be written in a tag value (it holds ';') is
 * never signed.
 */
#ifndef P11DKIM_HEADER_SELECT_H
#define P11DKIM_HEADER_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "p11dkim/buf.h"
#include "p11dkim/dkim_err.h"
#include "p11dkim/header_section.h"

#define HEADER_SELECT_NONE	SIZE_MAX	/* an oversigned entry */

struct header_selection {
	struct buf hlist;	/* the h= value: "from:to:subject" */
	size_t	*fields;	/* field index per entry, or ..._NONE */
	size_t	 n;		/* entries */
};

/*
 * header_select_name_ok - may a field name stand in h=: printable ASCII
 * without ':' and ';' (RFC 6376 3.2 VALCHAR).  Fields with other names
 * are never signed, whatever the lists say.
 */
int	header_select_name_ok(const char *name, size_t len);

/* header_select_default_sign - RFC 6376 5.4.1's list, plus MIME fields */
const char *const *header_select_default_sign(void);

/* header_select_default_oversign - From, To, Cc, Subject, Date, ... */
const char *const *header_select_default_oversign(void);

/*
 * header_select - choose the fields of hs for a signature.  sign and
 * oversign are NULL-terminated lists (NULL: the defaults).  The result
 * is owned by sel; header_selection_release() frees it.
 */
int	header_select(const struct header_section *hs,
	    const char *const *sign, const char *const *oversign,
	    struct header_selection *sel, struct dkim_err *);

/* header_selection_release - free a selection */
void	header_selection_release(struct header_selection *);

#endif
