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

/* signer_sign_noted - sign digest with key, with the front's note */
void
signer_sign_noted(struct signer *s, uint32_t key, enum dkim_alg alg,
    const unsigned char digest[DKIM_DIGEST_LEN],
    const struct signer_note *note, struct signer_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (s->ops->sign_noted != NULL)
		s->ops->sign_noted(s, key, alg, digest, note, r);
	else
		s->ops->sign(s, key, alg, digest, r);
}

/* text_ok - a string NUL-terminated within max bytes, printable ASCII */
static int
text_ok(const char *p, size_t max)
{
	const char *end = memchr(p, '\0', max);

	if (end == NULL)
		return 0;
	for (; p < end; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			return 0;
	return 1;
}

/* signer_note_check - a note as received: 0, or -1 with why */
int
signer_note_check(const struct signer_note *n, char *why, size_t len)
{
	const char *bad = NULL;

	if (n->front != 0 && n->front != SIGNER_FRONT_NATIVE &&
	    n->front != SIGNER_FRONT_MILTER)
		bad = "front";
	else if (!text_ok(n->d, sizeof(n->d)))
		bad = "d=";
	else if (!text_ok(n->s, sizeof(n->s)))
		bad = "s=";
	else if (!text_ok(n->msgid, sizeof(n->msgid)))
		bad = "Message-ID";
	else if (!text_ok(n->client, sizeof(n->client)))
		bad = "client";
	if (bad != NULL)
		snprintf(why, len, "a trail note with a bad %s", bad);
	return bad != NULL ? -1 : 0;
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
