/*
 * dkim_err.c - error records of the signing core (see dkim_err.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "p11dkim/dkim_err.h"

/* dkim_err_set - record status and message; returns -1 for tail calls */
int
dkim_err_set(struct dkim_err *err, enum dkim_status status,
    const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL)
		return -1;
	err->status = status;
	va_start(ap, fmt);
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
		err->msg[0] = '\0';
	va_end(ap);
	return -1;
}

/* dkim_err_clear - reset to DKIM_OK with an empty message */
void
dkim_err_clear(struct dkim_err *err)
{
	if (err == NULL)
		return;
	err->status = DKIM_OK;
	err->msg[0] = '\0';
}

/* dkim_status_temporary - 1 when retrying later may succeed */
int
dkim_status_temporary(enum dkim_status status)
{
	return status == DKIM_ESIGN_TEMP || status == DKIM_ENOMEM;
}

/* dkim_status_name - short name of a status, e.g. "bad message" */
const char *
dkim_status_name(enum dkim_status status)
{
	switch (status) {
	case DKIM_OK:		return "ok";
	case DKIM_EMESSAGE:	return "bad message";
	case DKIM_ELIMIT:	return "message over limit";
	case DKIM_EPARAM:	return "bad signing parameters";
	case DKIM_ESIGN_PERM:	return "signing refused";
	case DKIM_ESIGN_TEMP:	return "signing temporarily failed";
	case DKIM_ENOMEM:	return "out of memory";
	case DKIM_ESTATE:	return "call out of order";
	}
	return "unknown status";
}
