/*
 * dkim_err.h - how the signing core reports failure.
 *
 * Library code never exits and never logs: it returns -1 and fills a
 * struct dkim_err with a status and a one-line message that names the
 * problem ("header line 4: no colon after the field name").  The status
 * tells the caller whether retrying the same request can help.
 */
#ifndef P11DKIM_DKIM_ERR_H
#define P11DKIM_DKIM_ERR_H

#include <stddef.h>

enum dkim_status {
	DKIM_OK = 0,
	DKIM_EMESSAGE,		/* the message cannot be signed as it is */
	DKIM_ELIMIT,		/* the message exceeds a configured limit */
	DKIM_EPARAM,		/* bad signing parameters (configuration) */
	DKIM_ESIGN_PERM,	/* the signer refused for good (no such key) */
	DKIM_ESIGN_TEMP,	/* the signer failed for now (token down) */
	DKIM_ENOMEM,		/* out of memory */
	DKIM_ESTATE		/* a call made out of order */
};

#define DKIM_ERR_MSG_MAX	256

struct dkim_err {
	enum dkim_status status;
	char	msg[DKIM_ERR_MSG_MAX];
};

/* dkim_err_set - record status and message; returns -1 for tail calls */
int	dkim_err_set(struct dkim_err *, enum dkim_status, const char *, ...)
	    __attribute__((format(printf, 3, 4)));

/* dkim_err_clear - reset to DKIM_OK with an empty message */
void	dkim_err_clear(struct dkim_err *);

/* dkim_status_temporary - 1 when retrying later may succeed */
int	dkim_status_temporary(enum dkim_status);

/* dkim_status_name - short name of a status, e.g. "bad message" */
const char *dkim_status_name(enum dkim_status);

#endif
