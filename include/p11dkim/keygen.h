/*
 * keygen.h - key pairs born on the token, and their destruction.
 *
 * The template of a ceremony key has two parts (PKCS11-NOTES.md,
 * TOKENS-NOTES.md):
 *
 * Essential, never dropped: the private key is a token object, private,
 * sensitive, not extractable, may sign, and is generated on the token
 * (C_GenerateKeyPair); the public key is a public token object that may
 * verify; both carry a random CKA_ID and the label given.  A token that
 * refuses any of this gets no key.
 *
 * Hardening, requested and dropped only when the token refuses it (enum
 * keygen_attr): no decrypt, unwrap, derive or sign-recover; the
 * mechanisms limited to CKM_RSA_PKCS or CKM_EDDSA; not modifiable, not
 * copyable; the public key neither encrypts nor wraps and is not
 * modifiable.  Tokens differ: openCryptoki and NSS know no
 * CKA_ALLOWED_MECHANISMS or CKA_COPYABLE, a TPM key can always decrypt.
 * A refused template is answered with an attribute error by most tokens,
 * but with CKR_GENERAL_ERROR or CKR_FUNCTION_FAILED by some: those count
 * as refusals too.  Errors that cannot be about the template (PIN,
 * session, login, device, memory, mechanism, key size) never drop
 * anything.  A key the token makes but then will not sign with (its
 * C_SignInit or C_Sign answers CKR_MECHANISM_INVALID or
 * CKR_KEY_FUNCTION_NOT_PERMITTED) is destroyed, and its template counts
 * as refused.  The search (keygen_search.h) drops only refused
 * attributes, one at a time, each with the token's answer; a key made
 * while searching is destroyed again when a better one replaces it.  A
 * module that will not destroy such a key (tpm2-pkcs11 holds a key whose
 * C_SignInit it refused until C_Finalize) is initialized again after the
 * search, which closes every session of this process, and the key is
 * destroyed then.
 *
 * CKA_DESTROYABLE is not requested false: a retired key must be
 * destroyed at the end of a rotation (p11dkim-keys rotate finish), and a
 * token that honours CKA_DESTROYABLE false (SoftHSM2 does) would keep it,
 * and its label, for ever.
 *
 * Nothing of the private key ever leaves the token.
 */
#ifndef P11DKIM_KEYGEN_H
#define P11DKIM_KEYGEN_H

#include "p11dkim/token.h"

/*
 * The hardening attributes, in the order the search drops them: those
 * tokens are seen to refuse first (a TPM: the public CKA_ENCRYPT and
 * CKA_DECRYPT; openCryptoki and NSS: CKA_COPYABLE and
 * CKA_ALLOWED_MECHANISMS), so that the search is short.  A token refuses
 * each on its own, so the order changes what it costs, not what is kept.
 *
 * CKA_ALLOWED_MECHANISMS for RSA is two steps: {CKM_RSA_PKCS} alone,
 * else {CKM_RSA_PKCS, CKM_RSA_X_509} (tpm2-pkcs11 signs CKM_RSA_PKCS by
 * padding in software and raw RSA on the TPM, and will not sign unless
 * the key allows CKM_RSA_X_509 too), else none at all.
 */
enum keygen_attr {
	KEYGEN_PUB_ENCRYPT,		/* public: CKA_ENCRYPT false */
	KEYGEN_DECRYPT,			/* private: CKA_DECRYPT false */
	KEYGEN_ALLOWED_ALONE,		/* RSA: CKM_RSA_PKCS alone allowed */
	KEYGEN_COPYABLE,		/* private: CKA_COPYABLE false */
	KEYGEN_ALLOWED_MECHANISMS,	/* private: only the signing mechanism */
	KEYGEN_PUB_MODIFIABLE,		/* public: CKA_MODIFIABLE false */
	KEYGEN_MODIFIABLE,		/* private: CKA_MODIFIABLE false */
	KEYGEN_PUB_WRAP,		/* public: CKA_WRAP false */
	KEYGEN_UNWRAP,			/* private: CKA_UNWRAP false */
	KEYGEN_SIGN_RECOVER,		/* private: CKA_SIGN_RECOVER false */
	KEYGEN_DERIVE,			/* private: CKA_DERIVE false */
	KEYGEN_ATTRS
};

/* keygen_generate's flags */
#define KEYGEN_STRICT	0x1	/* drop no hardening attribute: refuse */

struct keygen_result {
	unsigned dropped;		/* 1 << enum keygen_attr, each dropped */
	CK_RV	 why[KEYGEN_ATTRS];	/* the token's answer for each */
	unsigned unsigned_keys;		/* 1 << attr: the answer was C_Sign's */
	int	 ec_params_printable;	/* it wanted "edwards25519", not the OID */
	CK_RV	 ec_params_why;		/* its answer to the OID */
	unsigned attempts;		/* C_GenerateKeyPair calls */
	unsigned probes;		/* keys made while searching, destroyed */
	int	 module_reinit;		/* the module was initialized again to
					   destroy keys it held busy */
};

/*
 * keygen_generate - a new key pair labelled label; bits for RSA (2048,
 * 3072, 4096), ignored for Ed25519.  Refused when any object on the token
 * already has that label.  Needs a user login (token_open).  res says
 * what the token refused; with KEYGEN_STRICT a refused hardening
 * attribute fails the generation instead.  On failure nothing is left
 * on the token.
 */
int	keygen_generate(struct token *, enum p11_key_type, unsigned bits,
	    const char *label, unsigned flags, struct keygen_result *,
	    struct p11_err *);

/* keygen_attr_name - "CKA_DECRYPT", or "public CKA_ENCRYPT" */
const char *keygen_attr_name(enum keygen_attr);

/* keygen_attr_wanted - the value asked for: "false", "{CKM_EDDSA}" */
const char *keygen_attr_wanted(enum keygen_attr, enum p11_key_type);

/* keygen_destroy - destroy the private and public key labelled label */
int	keygen_destroy(struct token *, const char *label, struct p11_err *);

/* keygen_label_exists - 1 if an object with this label exists, 0 if not */
int	keygen_label_exists(struct token *, const char *label,
	    struct p11_err *);

#endif
