/*
 * sign_params.h - checks on the values that go into a DKIM-Signature.
 *
 * Domains, selectors, identities and header-name lists come from a
 * configuration; each is checked against the RFC grammar before it can
 * reach a header field, so a typo is a clear error, never a broken or
 * injected tag.
 */
#ifndef P11DKIM_SIGN_PARAMS_H
#define P11DKIM_SIGN_PARAMS_H

#include "p11dkim/buf.h"
#include "p11dkim/dkim_err.h"

/* sign_params_domain - a d= domain (RFC 6376 3.5, RFC 5321 domain) */
int	sign_params_domain(const char *, struct dkim_err *);

/* sign_params_selector - an s= selector (RFC 6376 3.1: sub-domains) */
int	sign_params_selector(const char *, struct dkim_err *);

/*
 * sign_params_identity - check an i= identity "[local]@domain", whose
 * domain must be domain or a subdomain of it (RFC 6376 3.5), and append
 * it to out encoded as dkim-quoted-printable (2.11).
 */
int	sign_params_identity(const char *identity, const char *domain,
	    struct buf *out, struct dkim_err *);

/* sign_params_names - a list of field names, "Name" or "Prefix-*" */
int	sign_params_names(const char *const *, const char *what,
	    struct dkim_err *);

#endif
