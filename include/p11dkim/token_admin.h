/*
 * token_admin.h - setting up a token for an institution: initialize it
 * with a label and a security officer PIN, then set the user PIN.
 *
 * Done through libp11 (C_InitToken, C_InitPIN), which does this soundly.
 * Only for the provisioning tool: the daemon never initializes tokens.
 */
#ifndef P11DKIM_TOKEN_ADMIN_H
#define P11DKIM_TOKEN_ADMIN_H

#include "p11dkim/p11_module.h"
#include "p11dkim/pin.h"

/*
 * token_admin_init - initialize the token in slot (or, when slot is -1,
 * the first slot whose token is not initialized), label it, and set the
 * user PIN.  Refused when a token with that label already exists, or the
 * slot's token is already initialized.  out: the token as it is now.
 */
int	token_admin_init(struct p11_module *, long slot, const char *label,
	    const struct pin *so_pin, const struct pin *user_pin,
	    struct p11_token_info *out, struct p11_err *);

#endif
