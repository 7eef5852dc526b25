/*
 * token_admin.c - initialize a token and set its user PIN through libp11
 * (see include/p11dkim/token_admin.h).
 *
 * Security: PINs are passed through and never copied; the caller wipes
 * them.  Initializing a token erases it, so every precondition is checked
 * first and an initialized token is never touched.
 */
#include <stdlib.h>
#include <string.h>

#include <libp11.h>

#include "p11dkim/token_admin.h"

/* pick_slot - the slot to initialize; checks that its token is blank */
static int
pick_slot(struct p11_module *m, long slot, const char *label,
    CK_SLOT_ID *out, struct p11_err *err)
{
	struct p11_token_info *list;
	size_t	 n;
	int	 found = 0;

	if (p11_module_tokens(m, &list, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (list[i].initialized && strcmp(list[i].label, label) == 0) {
			p11_err_set(err, 0, CKR_OK, "a token labelled '%s' "
			    "already exists (serial %s): refusing to "
			    "initialize another", label, list[i].serial);
			free(list);
			return -1;
		}
	for (size_t i = 0; i < n && !found; i++) {
		if (slot >= 0 && list[i].slot != (CK_SLOT_ID)slot)
			continue;
		if (list[i].initialized) {
			if (slot >= 0) {
				p11_err_set(err, 0, CKR_OK, "slot %ld holds "
				    "token '%s', already initialized: refusing "
				    "to erase it", slot, list[i].label);
				free(list);
				return -1;
			}
			continue;
		}
		*out = list[i].slot;
		found = 1;
	}
	free(list);
	if (!found && slot >= 0)
		return p11_err_set(err, 0, CKR_OK, "no token in slot %ld", slot);
	if (!found)
		return p11_err_set(err, 0, CKR_OK, "no uninitialized token in "
		    "any slot");
	return 0;
}

/* set_user_pin - log in as security officer and set the user PIN */
static int
set_user_pin(struct p11_module *m, const char *label,
    const struct pin *so_pin, const struct pin *user_pin,
    struct p11_token_info *out, struct p11_err *err)
{
	PKCS11_SLOT *s;

	p11_module_rescan(m);		/* the token is new, or moved slots */
	if (p11_module_find_token(m, label, NULL, out, err) < 0)
		return -1;
	if ((s = p11_module_libp11_slot(m, out->slot)) == NULL)
		return p11_err_set(err, 1, CKR_SLOT_ID_INVALID, "token '%s' "
		    "not found again after initialization", label);
	if (PKCS11_open_session(s, 1) != 0 || PKCS11_login(s, 1,
	    so_pin->buf) != 0)
		return p11_err_set(err, 0, CKR_OK, "token '%s': security "
		    "officer login failed after initialization", label);
	if (PKCS11_init_pin(s->token, user_pin->buf) != 0) {
		(void)PKCS11_logout(s);
		return p11_err_set(err, 0, CKR_OK, "token '%s': setting the "
		    "user PIN failed (PIN length outside the token's range?)",
		    label);
	}
	(void)PKCS11_logout(s);
	p11_module_rescan(m);		/* its flags changed */
	return p11_module_find_token(m, label, NULL, out, err);
}

/* token_admin_init - initialize, label, set the user PIN */
int
token_admin_init(struct p11_module *m, long slot, const char *label,
    const struct pin *so_pin, const struct pin *user_pin,
    struct p11_token_info *out, struct p11_err *err)
{
	CK_SLOT_ID id = 0;
	PKCS11_SLOT *s;
	char	 padded[P11_LABEL_MAX + 1];

	if (strlen(label) == 0 || strlen(label) > P11_LABEL_MAX)
		return p11_err_set(err, 0, CKR_OK, "token label '%s': 1 to %d "
		    "characters", label, P11_LABEL_MAX);
	if (pick_slot(m, slot, label, &id, err) < 0)
		return -1;
	if ((s = p11_module_libp11_slot(m, id)) == NULL || s->token == NULL)
		return p11_err_set(err, 1, CKR_SLOT_ID_INVALID, "slot %lu has "
		    "no token", (unsigned long)id);
	/* libp11 0.4.12 hands the label to C_InitToken as it is, and the
	 * token reads all 32 bytes of it: give it the blank-padded field. */
	memset(padded, ' ', P11_LABEL_MAX);
	memcpy(padded, label, strlen(label));
	padded[P11_LABEL_MAX] = '\0';
	if (PKCS11_init_token(s->token, so_pin->buf, padded) != 0)
		return p11_err_set(err, 0, CKR_OK, "C_InitToken on slot %lu "
		    "failed (SO PIN length outside the token's range?)",
		    (unsigned long)id);
	return set_user_pin(m, label, so_pin, user_pin, out, err);
}
