/*
 * dkim_alg.c - algorithm and canonicalization names (RFC 6376 3.3, 3.4,
 * RFC 8301, RFC 8463).
 */
#include <string.h>
#include <strings.h>

#include "p11dkim/dkim_alg.h"

/* dkim_alg_parse - "rsa-sha256" or "ed25519-sha256"; -1 and why else */
int
dkim_alg_parse(const char *name, enum dkim_alg *alg, struct dkim_err *err)
{
	if (strcasecmp(name, "rsa-sha256") == 0)
		*alg = DKIM_ALG_RSA_SHA256;
	else if (strcasecmp(name, "ed25519-sha256") == 0)
		*alg = DKIM_ALG_ED25519_SHA256;
	else if (strcasecmp(name, "rsa-sha1") == 0)
		return dkim_err_set(err, DKIM_EPARAM, "algorithm rsa-sha1 is "
		    "not allowed: signers must use rsa-sha256 (RFC 8301)");
	else
		return dkim_err_set(err, DKIM_EPARAM, "unknown algorithm "
		    "'%.64s' (use rsa-sha256 or ed25519-sha256)", name);
	return 0;
}

/* dkim_alg_name - the a= tag value of an algorithm */
const char *
dkim_alg_name(enum dkim_alg alg)
{
	return alg == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

/* canon_one - one canonicalization name of length n */
static int
canon_one(const char *s, size_t n, enum dkim_canon *c)
{
	if (n == 6 && strncasecmp(s, "simple", n) == 0)
		*c = DKIM_CANON_SIMPLE;
	else if (n == 7 && strncasecmp(s, "relaxed", n) == 0)
		*c = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/*
 * dkim_canon_parse - a c= value.  RFC 6376 3.5: "header/body"; a lone
 * name is the header algorithm and the body algorithm is "simple".
 */
int
dkim_canon_parse(const char *s, enum dkim_canon *hdr, enum dkim_canon *body,
    struct dkim_err *err)
{
	const char *slash = strchr(s, '/');
	size_t	 hlen = slash ? (size_t)(slash - s) : strlen(s);

	if (canon_one(s, hlen, hdr) < 0 ||
	    (slash != NULL && canon_one(slash + 1, strlen(slash + 1), body) < 0))
		return dkim_err_set(err, DKIM_EPARAM, "bad canonicalization "
		    "'%.64s' (use simple or relaxed, as header/body)", s);
	if (slash == NULL)
		*body = DKIM_CANON_SIMPLE;
	return 0;
}

/* dkim_canon_name - "simple" or "relaxed" */
const char *
dkim_canon_name(enum dkim_canon c)
{
	return c == DKIM_CANON_RELAXED ? "relaxed" : "simple";
}
