/*
 * dkim_sign.h - the DKIM signing core (RFC 6376, RFC 8463, RFC 8301).
 *
 * A dkim_sign context takes one message as a stream and produces one or
 * more DKIM-Signature header fields for it.  It is pure: no I/O, no
 * token, no global state.  The private-key operation is the caller's: at
 * the end the core hands over the 32-byte SHA-256 digest of the data a
 * signature covers, and takes back the signature bytes, either through a
 * callback (dkim_sign_finish) or in two steps (dkim_sign_digest, then
 * dkim_sign_set_signature) for callers that sign asynchronously.
 *
 * What the signer must do with the digest:
 *   rsa-sha256      RSASSA-PKCS1-v1_5 over the digest: wrap it in the
 *                   SHA-256 DigestInfo and sign with CKM_RSA_PKCS (the
 *                   token layer does this, not the core).
 *   ed25519-sha256  PureEdDSA (CKM_EDDSA) with the 32-byte digest as the
 *                   message, as RFC 8463 3 prescribes.
 *
 * Flow:
 *   ctx = dkim_sign_new(&limits, &err);
 *   dkim_sign_add(ctx, &params, &err);      one or more, before the body
 *   dkim_sign_update(ctx, chunk, n, &err);  the whole message, any chunks
 *   dkim_sign_finish(ctx, sign_cb, arg, &err);
 *   field = dkim_sign_field(ctx, 0, &len);  "DKIM-Signature: ...\r\n"
 *   dkim_sign_free(ctx);
 * A caller that must see the header fields before it knows how to sign
 * (to pick the domain from From) feeds dkim_sign_headers() until
 * dkim_sign_headers_complete(), adds its signatures, then dkim_sign_body().
 *
 * Memory: the header section is held (up to limits.header_bytes); the
 * body is hashed as it streams and never held.
 *
 * Refused (DKIM_EMESSAGE): no From field, more than one From field, a
 * header section that is not RFC 5322 syntax.  Refused (DKIM_ELIMIT):
 * a header section over limits.header_bytes or limits.header_fields.
 * Any error leaves the context failed; later calls return DKIM_ESTATE.
 */
#ifndef P11DKIM_DKIM_SIGN_H
#define P11DKIM_DKIM_SIGN_H

#include <stddef.h>
#include <time.h>

#include "p11dkim/dkim_alg.h"
#include "p11dkim/dkim_err.h"

#define DKIM_HEADER_BYTES_DEFAULT	(64 * 1024)
#define DKIM_HEADER_BYTES_MAX		(1024 * 1024)
#define DKIM_HEADER_FIELDS_DEFAULT	1000
#define DKIM_HEADER_FIELDS_MAX		10000
#define DKIM_SIGNATURES_MAX		4

struct dkim_limits {
	size_t	 header_bytes;	/* 0: DKIM_HEADER_BYTES_DEFAULT */
	size_t	 header_fields;	/* 0: DKIM_HEADER_FIELDS_DEFAULT */
};

/*
 * One signature to make.  The strings are copied by dkim_sign_add().
 * A zero field takes the default noted.
 */
struct dkim_sign_params {
	enum dkim_alg alg;		/* required */
	enum dkim_canon hcanon;		/* 0: relaxed */
	enum dkim_canon bcanon;		/* 0: relaxed */
	const char *domain;		/* d=, required */
	const char *selector;		/* s=, required */
	const char *identity;		/* i=, "user@sub.domain"; NULL: none */
	const char *const *sign_headers;	/* NULL: the default list */
	const char *const *oversign_headers;	/* NULL: the default list */
	int	 no_timestamp;		/* 1: no t= tag */
	time_t	 now;			/* t= value; 0: the current time */
	unsigned long expire_secs;	/* x= = t= + this; 0: no x= */
	void	*key;			/* the caller's, handed to the callback */
};

struct dkim_sign;

/*
 * dkim_sign_cb - sign digest for the signature described by params.
 * *siglen is the room in sig (DKIM_SIG_MAX) on entry, the signature's
 * length on return.  Returns 0, or -1 with err set (DKIM_ESIGN_TEMP or
 * DKIM_ESIGN_PERM).
 */
typedef int dkim_sign_cb(void *arg, const struct dkim_sign_params *params,
    const unsigned char digest[DKIM_DIGEST_LEN], unsigned char *sig,
    size_t *siglen, struct dkim_err *err);

/* dkim_sign_new - context for one message; NULL limits: the defaults */
struct dkim_sign *dkim_sign_new(const struct dkim_limits *, struct dkim_err *);

/* dkim_sign_add - one more signature; only before the first body byte */
int	dkim_sign_add(struct dkim_sign *, const struct dkim_sign_params *,
	    struct dkim_err *);

/* dkim_sign_update - feed message bytes, header section then body */
int	dkim_sign_update(struct dkim_sign *, const char *, size_t,
	    struct dkim_err *);

/* dkim_sign_headers - feed header bytes; *consumed stops at the blank line */
int	dkim_sign_headers(struct dkim_sign *, const char *, size_t,
	    size_t *consumed, struct dkim_err *);

/*
 * dkim_sign_headers_end - the message ended inside its header section (no
 * blank line, no body): close the section so that signatures can still
 * be added before dkim_sign_end.
 */
int	dkim_sign_headers_end(struct dkim_sign *, struct dkim_err *);

/* dkim_sign_headers_complete - 1 once the header section was read */
int	dkim_sign_headers_complete(const struct dkim_sign *);

/* dkim_sign_body - feed body bytes (the header section is complete) */
int	dkim_sign_body(struct dkim_sign *, const char *, size_t,
	    struct dkim_err *);

/* dkim_sign_header_value - raw value of the last field named name */
const char *dkim_sign_header_value(const struct dkim_sign *, const char *name,
	    size_t *len);

/* dkim_sign_end - the message is complete: compute what is to be signed */
int	dkim_sign_end(struct dkim_sign *, struct dkim_err *);

/* dkim_sign_count - number of signatures added */
size_t	dkim_sign_count(const struct dkim_sign *);

/* dkim_sign_digest - after end: the digest signature i must sign */
int	dkim_sign_digest(const struct dkim_sign *, size_t i,
	    unsigned char out[DKIM_DIGEST_LEN]);

/* dkim_sign_body_hash - after end: the bh= of signature i */
int	dkim_sign_body_hash(const struct dkim_sign *, size_t i,
	    unsigned char out[DKIM_DIGEST_LEN]);

/* dkim_sign_params_of - the parameters of signature i (for signers) */
const struct dkim_sign_params *dkim_sign_params_of(const struct dkim_sign *,
	    size_t i);

/* dkim_sign_set_signature - signature i's bytes; completes its field */
int	dkim_sign_set_signature(struct dkim_sign *, size_t i,
	    const unsigned char *sig, size_t len, struct dkim_err *);

/* dkim_sign_finish - end, then sign every signature through cb */
int	dkim_sign_finish(struct dkim_sign *, dkim_sign_cb *cb, void *arg,
	    struct dkim_err *);

/*
 * dkim_sign_field - the complete header field of signature i, CRLF line
 * endings, final CRLF included; NULL until it is signed.  Owned by ctx.
 */
const char *dkim_sign_field(const struct dkim_sign *, size_t i, size_t *len);

/* dkim_sign_free - release everything; NULL is fine; returns NULL */
struct dkim_sign *dkim_sign_free(struct dkim_sign *);

#endif
