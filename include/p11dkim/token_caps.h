/*
 * token_caps.h - what a token can do, as the token itself reports it:
 * its flags, session and PIN limits, and the mechanisms p11dkim uses
 * (CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS, CKM_EC_EDWARDS_KEY_PAIR_GEN,
 * CKM_EDDSA) with their key sizes and flags.
 *
 * p11_token_can() answers the one question both programs ask before they
 * use a token for an institution: can this token generate (and/or sign
 * with) a key of this type and size?  p11dkim-keys asks it before a
 * ceremony touches the token; the daemon can ask it when it reads its
 * configuration.  No login is needed: these are slot and token queries
 * (C_GetTokenInfo, C_GetMechanismInfo), and nothing on the token changes.
 *
 * Key sizes are in bits, as PKCS#11 defines ulMinKeySize/ulMaxKeySize
 * for RSA and EC mechanisms; a maximum of 0 means the token gives none.
 */
#ifndef P11DKIM_TOKEN_CAPS_H
#define P11DKIM_TOKEN_CAPS_H

#include <stddef.h>

#include "p11dkim/p11_module.h"
#include "p11dkim/token.h"

#define P11_CAPS_MECHS		4	/* the mechanisms p11dkim uses */

/* What p11_token_can is asked about (or-ed). */
#define P11_CAN_SIGN		0x1	/* sign with an existing key */
#define P11_CAN_GENERATE	0x2	/* generate a key pair on the token */

/* One mechanism, as C_GetMechanismInfo answers for it. */
struct p11_mech_caps {
	CK_MECHANISM_TYPE mech;
	int	 supported;		/* 1: the token knows it */
	CK_RV	 rv;			/* C_GetMechanismInfo's answer */
	CK_ULONG min_bits, max_bits;	/* ulMinKeySize, ulMaxKeySize */
	CK_FLAGS flags;			/* CKF_SIGN, CKF_GENERATE_KEY_PAIR, ... */
};

/* A token: its CK_TOKEN_INFO and the mechanisms p11dkim uses, in order. */
struct p11_token_caps {
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	struct p11_mech_caps mechs[P11_CAPS_MECHS];
};

/* Which flag names p11_flags_text knows. */
enum p11_flag_kind { P11_FLAGS_TOKEN, P11_FLAGS_PIN, P11_FLAGS_MECHANISM };

/*
 * p11_token_caps - read the token in slot: its information and the four
 * mechanisms.  A mechanism the token does not know is not an error
 * (supported 0, rv CKR_MECHANISM_INVALID); a failed query is.
 */
int	p11_token_caps(struct p11_module *, CK_SLOT_ID, struct p11_token_caps *,
	    struct p11_err *);

/*
 * p11_token_can - can the token in slot do what (P11_CAN_SIGN,
 * P11_CAN_GENERATE) with a key of this type and size (bits: RSA; ignored
 * for Ed25519)?  1: yes.  0: no, and err->msg says why ("no
 * CKM_EDDSA", "RSA keys of 1024 to 3072 bits, not 4096"), with err->rv
 * the token's answer.  -1: the token could not be asked (err says why).
 */
int	p11_token_can(struct p11_module *, CK_SLOT_ID, enum p11_key_type,
	    unsigned bits, unsigned what, struct p11_err *);

/* p11_mech_name - "CKM_EDDSA"; "CKM_0x..." in buf for others */
const char *p11_mech_name(CK_MECHANISM_TYPE, char *buf, size_t len);

/*
 * p11_flags_text - the names of the flags set, without their "CKF_"
 * prefix, separated by single spaces ("RNG LOGIN_REQUIRED"); bits without
 * a name as one hex number.  P11_FLAGS_PIN: the token flags about PINs
 * only.  Returns -1 when out is too small (out is then cut short).
 */
int	p11_flags_text(enum p11_flag_kind, CK_FLAGS, char *out, size_t len);

#endif
