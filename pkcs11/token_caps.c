/*
 * token_caps.c - a token's flags, limits and mechanisms, and whether it
 * can generate or sign with a key type and size (see
 * include/p11dkim/token_caps.h).
 *
 * Security: read-only slot and token queries; no session, no login.
 */
#include <stdio.h>
#include <string.h>

#include "p11dkim/token_caps.h"

struct flag_name {
	CK_FLAGS flag;
	const char *name;
};

#define FLAG(x)		{ CKF_##x, #x }

static const struct flag_name token_flags[] = {
	FLAG(RNG), FLAG(WRITE_PROTECTED), FLAG(LOGIN_REQUIRED),
	FLAG(USER_PIN_INITIALIZED), FLAG(RESTORE_KEY_NOT_NEEDED),
	FLAG(CLOCK_ON_TOKEN), FLAG(PROTECTED_AUTHENTICATION_PATH),
	FLAG(DUAL_CRYPTO_OPERATIONS), FLAG(TOKEN_INITIALIZED),
	FLAG(SECONDARY_AUTHENTICATION), FLAG(USER_PIN_COUNT_LOW),
	FLAG(USER_PIN_FINAL_TRY), FLAG(USER_PIN_LOCKED),
	FLAG(USER_PIN_TO_BE_CHANGED), FLAG(SO_PIN_COUNT_LOW),
	FLAG(SO_PIN_FINAL_TRY), FLAG(SO_PIN_LOCKED), FLAG(SO_PIN_TO_BE_CHANGED),
	{ 1UL << 24, "ERROR_STATE" }, { 0, NULL }
};

/* The token flags that are about PINs and how they are entered. */
#define PIN_FLAGS	(CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | \
	CKF_PROTECTED_AUTHENTICATION_PATH | CKF_SECONDARY_AUTHENTICATION | \
	CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED | \
	CKF_USER_PIN_TO_BE_CHANGED | CKF_SO_PIN_COUNT_LOW | \
	CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED | CKF_SO_PIN_TO_BE_CHANGED)

static const struct flag_name mech_flags[] = {
	FLAG(HW), FLAG(ENCRYPT), FLAG(DECRYPT), FLAG(DIGEST), FLAG(SIGN),
	FLAG(SIGN_RECOVER), FLAG(VERIFY), FLAG(VERIFY_RECOVER),
	FLAG(GENERATE), FLAG(GENERATE_KEY_PAIR), FLAG(WRAP), FLAG(UNWRAP),
	FLAG(DERIVE), FLAG(EC_F_P), { 1UL << 21, "EC_F_2M" },
	{ 1UL << 22, "EC_ECPARAMETERS" }, FLAG(EC_NAMEDCURVE),
	FLAG(EC_UNCOMPRESS), FLAG(EC_COMPRESS),
	FLAG(EXTENSION), { 0, NULL }
};

/* The mechanisms of struct p11_token_caps, in its order. */
static const CK_MECHANISM_TYPE used_mechs[P11_CAPS_MECHS] = {
	CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS, CKM_EC_EDWARDS_KEY_PAIR_GEN,
	CKM_EDDSA
};

/* p11_mech_name - "CKM_EDDSA"; "CKM_0x..." in buf for others */
const char *
p11_mech_name(CK_MECHANISM_TYPE m, char *buf, size_t len)
{
	switch (m) {
	case CKM_RSA_PKCS_KEY_PAIR_GEN:	return "CKM_RSA_PKCS_KEY_PAIR_GEN";
	case CKM_RSA_PKCS:		return "CKM_RSA_PKCS";
	case CKM_EC_EDWARDS_KEY_PAIR_GEN: return "CKM_EC_EDWARDS_KEY_PAIR_GEN";
	case CKM_EDDSA:			return "CKM_EDDSA";
	case CKM_SHA256_RSA_PKCS:	return "CKM_SHA256_RSA_PKCS";
	default:
		snprintf(buf, len, "CKM_0x%08lx", (unsigned long)m);
		return buf;
	}
}

/* p11_flags_text - the names of the flags set, separated by spaces */
int
p11_flags_text(enum p11_flag_kind kind, CK_FLAGS flags, char *out, size_t len)
{
	const struct flag_name *t = kind == P11_FLAGS_MECHANISM ? mech_flags :
	    token_flags;
	size_t	 n = 0;
	int	 w;

	if (kind == P11_FLAGS_PIN)
		flags &= PIN_FLAGS;
	out[0] = '\0';
	for (; t->name != NULL; t++) {
		if ((flags & t->flag) == 0)
			continue;
		flags &= ~t->flag;
		w = snprintf(out + n, len - n, "%s%s", n ? " " : "", t->name);
		if (w < 0 || (size_t)w >= len - n)
			return -1;
		n += (size_t)w;
	}
	if (flags != 0) {
		w = snprintf(out + n, len - n, "%s0x%lx", n ? " " : "",
		    (unsigned long)flags);
		if (w < 0 || (size_t)w >= len - n)
			return -1;
	}
	return 0;
}

/* mech_query - C_GetMechanismInfo of one mechanism */
static int
mech_query(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, CK_MECHANISM_TYPE m,
    struct p11_mech_caps *c, struct p11_err *err)
{
	CK_MECHANISM_INFO info;
	char	 buf[32];

	memset(c, 0, sizeof(*c));
	c->mech = m;
	c->rv = fn->C_GetMechanismInfo(slot, m, &info);
	if (c->rv == CKR_MECHANISM_INVALID)
		return 0;
	if (c->rv != CKR_OK)
		return p11_err_rv(err, c->rv, "C_GetMechanismInfo(%s) on slot "
		    "%lu", p11_mech_name(m, buf, sizeof(buf)),
		    (unsigned long)slot);
	c->supported = 1;
	c->min_bits = info.ulMinKeySize;
	c->max_bits = info.ulMaxKeySize;
	c->flags = info.flags;
	return 0;
}

/* p11_token_caps - the token's information and the four mechanisms */
int
p11_token_caps(struct p11_module *m, CK_SLOT_ID slot,
    struct p11_token_caps *caps, struct p11_err *err)
{
	CK_FUNCTION_LIST *fn = p11_module_functions(m);
	CK_RV	 rv;
	int	 rc = 0;

	memset(caps, 0, sizeof(*caps));
	caps->slot = slot;
	p11_module_enter(m);
	if ((rv = fn->C_GetTokenInfo(slot, &caps->info)) != CKR_OK)
		rc = p11_err_rv(err, rv, "C_GetTokenInfo on slot %lu",
		    (unsigned long)slot);
	for (size_t i = 0; rc == 0 && i < P11_CAPS_MECHS; i++)
		rc = mech_query(fn, slot, used_mechs[i], &caps->mechs[i], err);
	p11_module_leave(m);
	return rc;
}

/*
 * mech_can - one mechanism: known, with the flag it needs, and (when
 * bits is not 0) the size in its range.  1, 0 with why, or -1.
 */
static int
mech_can(struct p11_module *m, CK_SLOT_ID slot, CK_MECHANISM_TYPE mech,
    CK_FLAGS need, const char *what, unsigned bits, struct p11_err *err)
{
	struct p11_mech_caps c;
	char	 buf[32];
	const char *name = p11_mech_name(mech, buf, sizeof(buf));
	int	 rc;

	p11_module_enter(m);
	rc = mech_query(p11_module_functions(m), slot, mech, &c, err);
	p11_module_leave(m);
	if (rc < 0)
		return -1;
	if (!c.supported)
		p11_err_set(err, 0, c.rv, "the token has no %s: it cannot %s",
		    name, what);
	else if ((c.flags & need) != need)
		p11_err_set(err, 0, CKR_MECHANISM_INVALID, "the token offers "
		    "%s, but not to %s", name, what);
	else if (bits != 0 && (bits < c.min_bits || (c.max_bits != 0 &&
	    bits > c.max_bits)))
		p11_err_set(err, 0, CKR_KEY_SIZE_RANGE, "the token can %s "
		    "only with keys of %lu to %lu bits (%s), not %u", what,
		    (unsigned long)c.min_bits, (unsigned long)c.max_bits, name,
		    bits);
	else
		return 1;
	return 0;
}

/* p11_token_can - can the token generate or sign with this key? */
int
p11_token_can(struct p11_module *m, CK_SLOT_ID slot, enum p11_key_type type,
    unsigned bits, unsigned what, struct p11_err *err)
{
	int	 rsa = type == P11_KEY_RSA, rc = 1;

	if (!rsa)
		bits = 0;	/* Ed25519 sizes are reported as 255 or 256 */
	if (what & P11_CAN_GENERATE)
		rc = mech_can(m, slot, rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN :
		    CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, rsa ?
		    "generate RSA keys" : "generate Ed25519 keys", bits, err);
	if (rc == 1 && (what & P11_CAN_SIGN))
		rc = mech_can(m, slot, rsa ? CKM_RSA_PKCS : CKM_EDDSA,
		    CKF_SIGN, rsa ? "sign with RSA keys" :
		    "sign with Ed25519 keys", bits, err);
	return rc;
}
