/*
 * signer.c - the front-to-signer interface's dispatch (see
 * include/p11dkim/signer.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "p11dkim/signer.h"

/* signer_sign - sign digest with key; the reply says how it went */
void
signer_sign(struct signer *s, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN], struct signer_reply *r)
{
	memset(r, 0, sizeof(*r));
	s->ops->sign(s, key, alg, digest, r);
}

/* signer_status - what the signer knows of its keys from first on */
size_t
signer_status(struct signer *s, int what, size_t first, unsigned char *out,
    size_t max)
{
	return s->ops->status != NULL ? s->ops->status(s, what, first, out,
	    max) : 0;
}

/* signer_free - release; NULL is fine; returns NULL */
struct signer *
signer_free(struct signer *s)
{
	if (s != NULL)
		s->ops->free(s);
	return NULL;
}

/* signer_reply_set - a failure reply with a reason */
void
signer_reply_set(struct signer_reply *r, enum signer_status status,
    const char *fmt, ...)
{
	va_list	 ap;

	r->status = status;
	r->len = 0;
	va_start(ap, fmt);
	if (vsnprintf(r->reason, sizeof(r->reason), fmt, ap) < 0)
		r->reason[0] = '\0';
	va_end(ap);
}
