/*
 * addr.h - the domain of a From address (RFC 5322 3.4, 3.6.2).
 *
 * The daemon picks the institution that signs a message from the domain
 * of its author.  The From value may carry a display name (quoted or
 * not, with encoded words), comments, folding and an angle address; the
 * domain is the part after the last '@' of the address, in lower case.
 * More than one address in From is refused: which one would the
 * signature vouch for?
 */
#ifndef P11DKIM_ADDR_H
#define P11DKIM_ADDR_H

#include <stddef.h>

#define ADDR_DOMAIN_MAX	253

/* addr_from_domain - the domain of a From value; -1 and why on failure */
int	addr_from_domain(const char *value, size_t len, char *domain,
	    size_t domainlen, const char **why);

#endif
