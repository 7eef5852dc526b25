/*
 * sig_field.h - the text of a DKIM-Signature header field (RFC 6376 3.5).
 *
 * The field is built in two steps.  sig_field_prefix() writes everything
 * up to and including "b=": that text, canonicalized, ends the data the
 * signature covers (3.7).  sig_field_finish() appends the signature in
 * base64 and the final CRLF.  Lines are folded with CRLF HTAB so that no
 * line is longer than 78 characters (RFC 5322 2.1.1): between tags, after
 * the colons of h=, and inside the base64 of bh= and b= (3.5 allows FWS
 * there; verifiers delete it).  There is never an l= tag.
 */
#ifndef P11DKIM_SIG_FIELD_H
#define P11DKIM_SIG_FIELD_H

#include <stddef.h>

#include "p11dkim/buf.h"
#include "p11dkim/dkim_alg.h"

#define SIG_FIELD_NAME		"DKIM-Signature"
#define SIG_FIELD_LINE_MAX	78
#define SIG_FIELD_MAX		16384

struct sig_tags {
	enum dkim_alg alg;
	enum dkim_canon hcanon;
	enum dkim_canon bcanon;
	const char *domain;	/* d= */
	const char *selector;	/* s= */
	const char *identity;	/* i=, already encoded; NULL: none */
	long long timestamp;	/* t=; < 0: none */
	long long expire;	/* x=; < 0: none */
	const char *hlist;	/* h=, "from:to:subject" */
	const unsigned char *body_hash;	/* bh=, DKIM_DIGEST_LEN bytes */
};

/*
 * sig_field_prefix - the field up to "b=", folded; -1 with errno E2BIG
 * (too long) or ENOMEM
 */
int	sig_field_prefix(const struct sig_tags *, struct buf *out);

/* sig_field_finish - append the signature's base64 and CRLF; -1 as above */
int	sig_field_finish(struct buf *out, const unsigned char *sig,
	    size_t len);

/* sig_field_base64 - base64 of len bytes into out (NUL-terminated); -1 as
 * above */
int	sig_field_base64(const unsigned char *, size_t len, struct buf *out);

#endif
