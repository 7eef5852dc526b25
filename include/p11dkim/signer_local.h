/*
 * signer_local.h - the signer in this process: the keytab's keys on
 * their tokens, through the token layer.  This is what the signer
 * process runs, and what unit tests use without a second process.
 *
 * At start it logs in to every institution's token, finds the active
 * selector's key, checks that its type fits the algorithm, and makes a
 * known-answer self-test signature (verified with the public key, as
 * every signature is).  An institution marked optional may start without
 * its token; it is tried again, at most every RETRY seconds, when asked.
 */
#ifndef P11DKIM_SIGNER_LOCAL_H
#define P11DKIM_SIGNER_LOCAL_H

#include "p11dkim/conf.h"
#include "p11dkim/keytab.h"
#include "p11dkim/signer.h"

#define SIGNER_LOCAL_RETRY	10	/* seconds between tries of a token */

/* signer_local_new - load the module, open tokens, self-test the keys */
struct signer *signer_local_new(const struct conf *, const struct keytab *,
	    char *err, size_t errlen);

#endif
