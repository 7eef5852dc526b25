/*
 * signer_trail.c - the signer's record of a signature it made (see
 * signer_int.h and include/p11dkim/trail.h).
 *
 * What the signer knows itself goes in as it knows it: the time, the
 * institution, the algorithm, the signature (its hash).  What only the
 * front knows (d=, s=, bh=, the Message-ID, the size, who asked) comes
 * from the front's note, checked as text when it was received: a front
 * could say something else there, but never get a signature that has no
 * record naming the institution, the key and the signature itself.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "p11dkim/log.h"
#include "signer_int.h"

/* front_name - the trail's name of a front */
static const char *
front_name(uint8_t front)
{
	return front == SIGNER_FRONT_NATIVE ? "native" :
	    front == SIGNER_FRONT_MILTER ? "milter" : "";
}

/* noted - what the front's note says, into the record */
static void
noted(struct trail_record *rec, const struct signer_note *n)
{
	snprintf(rec->front, sizeof(rec->front), "%s", front_name(n->front));
	snprintf(rec->client, sizeof(rec->client), "%s", n->client);
	snprintf(rec->d, sizeof(rec->d), "%s", n->d);
	snprintf(rec->s, sizeof(rec->s), "%s", n->s);
	snprintf(rec->msgid, sizeof(rec->msgid), "%s", n->msgid);
	rec->size = n->size;
	EVP_EncodeBlock((unsigned char *)rec->bh, n->bh, DKIM_DIGEST_LEN);
}

/* signer_trail_record - the record of signature r made with spec's key */
int
signer_trail_record(struct trail *t, const struct keyspec *spec,
    const struct signer_note *n, const struct signer_reply *r, char *why,
    size_t whylen)
{
	struct trail_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.t = (int64_t)time(NULL);
	snprintf(rec.inst, sizeof(rec.inst), "%s", spec->code);
	snprintf(rec.a, sizeof(rec.a), "%s",
	    dkim_alg_name((enum dkim_alg)spec->alg));
	if (trail_bhash(r->sig, r->len, rec.bhash) < 0) {
		snprintf(why, whylen, "signing trail: no hash of the signature");
		return -1;
	}
	if (n != NULL && n->front != 0)
		noted(&rec, n);
	return trail_write(t, &rec, why, whylen);
}

/*
 * signer_trail_failed - a record that could not be written: logged (a
 * line a second at most, however many requests fail so)
 */
void
signer_trail_failed(const char *why)
{
	static time_t last;
	time_t	 now = time(NULL);

	if (__atomic_exchange_n(&last, now, __ATOMIC_RELAXED) != now)
		log_err("%s", why);
}
