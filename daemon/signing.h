/*
 * signing.h - one message being signed by a front, whatever protocol
 * brought it (native or milter): the message streams through the signing
 * core, the institution is picked from the domain, the signer signs each
 * digest, and the reply is all signature fields or a refusal with its
 * kind (permanent or temporary) and reason.  One log line and the stats
 * at the end.  Private to daemon/.
 */
#ifndef P11DKIM_SIGNING_H
#define P11DKIM_SIGNING_H

#include <time.h>

#include "p11dkim/addr.h"
#include "p11dkim/buf.h"
#include "p11dkim/dkim_sign.h"
#include "front.h"

enum { SIGNING_OK = 0, SIGNING_PERM, SIGNING_TEMP };

struct signing {
	const struct front *f;
	struct dkim_sign *ctx;
	const struct keytab_entry *e;	/* the institution's key, once picked */
	const char *d_domain;		/* d= */
	uint32_t keys[2];		/* key numbers: main, dual */
	size_t	 nkeys;
	int	 inst;			/* index, -1: not picked */
	size_t	 total;			/* message bytes so far */
	int	 fail;			/* SIGNING_PERM or SIGNING_TEMP */
	int	 over_quota;		/* TEMP: the institution's quota */
	int	 not_ours;		/* failed as mail that is not ours to
					   sign: a domain not signed here, a
					   client not authorized for it */
	int	 passes_unsigned;	/* the milter: a failure lets the mail
					   through (not_ours: logged at info) */
	char	 reason[256];
	struct buf fields;		/* the signature fields */
	struct timespec start;
	uint8_t	 front;			/* for the trail: SIGNER_FRONT_* */
	char	 client[TRAIL_CLIENT_MAX + 1];	/* who asked, for the trail */
};

/* signing_begin - a new message */
void	signing_begin(struct signing *, const struct front *);

/* signing_fail - the message fails (the first reason counts) */
void	signing_fail(struct signing *, int kind, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * signing_headers - bytes of the header section; *used says how many
 * belonged to it.  Returns 1 when the section just ended (pick then).
 */
int	signing_headers(struct signing *, const char *, size_t, size_t *used);

/* signing_headers_end - the message ended inside its headers: 1 if closed */
int	signing_headers_end(struct signing *);

/* signing_body - body bytes (after the institution was picked) */
void	signing_body(struct signing *, const char *, size_t);

/*
 * signing_pick - the institution for domain (NULL: From's domain); on
 * success its signatures are added.  NULL (and the message failed) when
 * no institution signs for it.
 */
const struct keytab_entry *signing_pick(struct signing *, const char *domain);

/* signing_add - the picked institution's signatures (main, then dual) */
void	signing_add(struct signing *);

/*
 * signing_client - who asks (front: SIGNER_FRONT_*; client: "uid=N", or
 * the MTA's client and queue ID), for the signing trail; before finish
 */
void	signing_client(struct signing *, uint8_t front, const char *client);

/* signing_finish - sign: all the fields, or NULL (the message failed) */
const char *signing_finish(struct signing *, size_t *len);

/*
 * signing_done - log one line (peer says who asked), count, free.  The
 * line: RESULT inst= d= s= alg= msgid= size= ms= PEER[ reason=]; RESULT
 * signed (info), tempfail or permfail (warning), or unsigned (info) for
 * mail the milter passes as not ours.
 */
void	signing_done(struct signing *, const char *peer);

/* signing_drop - free a message the MTA gave up on: no log, no count */
void	signing_drop(struct signing *);

#endif
