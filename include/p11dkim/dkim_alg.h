/*
 * dkim_alg.h - DKIM signing algorithms and canonicalizations by name.
 *
 * Only algorithms that RFC 8301 and RFC 8463 allow a signer to use are
 * accepted: rsa-sha256 and ed25519-sha256.  rsa-sha1 is refused by name
 * with a message that says why, so a configuration that asks for it
 * fails loudly instead of signing something receivers reject.
 */
#ifndef P11DKIM_DKIM_ALG_H
#define P11DKIM_DKIM_ALG_H

#include "p11dkim/dkim_err.h"

enum dkim_alg {
	DKIM_ALG_RSA_SHA256 = 1,
	DKIM_ALG_ED25519_SHA256
};

enum dkim_canon {
	DKIM_CANON_SIMPLE = 1,
	DKIM_CANON_RELAXED
};

#define DKIM_DIGEST_LEN		32	/* SHA-256, the only hash we use */
#define DKIM_SIG_MAX		1024	/* RSA-8192; Ed25519 needs 64 */
#define DKIM_ED25519_SIG_LEN	64

/* dkim_alg_parse - "rsa-sha256" or "ed25519-sha256"; -1 and why else */
int	dkim_alg_parse(const char *, enum dkim_alg *, struct dkim_err *);

/* dkim_alg_name - the a= tag value of an algorithm */
const char *dkim_alg_name(enum dkim_alg);

/* dkim_canon_parse - a c= value: "relaxed/simple", "simple", ... */
int	dkim_canon_parse(const char *, enum dkim_canon *hdr,
	    enum dkim_canon *body, struct dkim_err *);

/* dkim_canon_name - "simple" or "relaxed" */
const char *dkim_canon_name(enum dkim_canon);

#endif
