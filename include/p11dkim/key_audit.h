/*
 * key_audit.h - what a token says about each key on it, and whether any
 * key could have left the token.
 *
 * Read from the token, never assumed from how we generated it: the key
 * type and size; every essential, origin and hardening attribute of the
 * private key (and the hardening ones of its public key); and whether
 * the token refuses to reveal the secret (CKA_PRIVATE_EXPONENT or
 * CKA_VALUE).  An attribute the token does not know
 * (CKR_ATTRIBUTE_TYPE_INVALID) is reported as such, never taken as true
 * or false.
 *
 * The judgement (key_audit_verdict):
 *   essential  CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN true and
 *              CKA_EXTRACTABLE false, or the key fails;
 *   origin     CKA_LOCAL (generated on the token), CKA_ALWAYS_SENSITIVE,
 *              CKA_NEVER_EXTRACTABLE true and the secret not revealed, or
 *              the key fails.  CKA_LOCAL false may be vouched for by the
 *              caller (KEY_AUDIT_LOCAL_VOUCHED): NSS reads back false for
 *              keys it generated, and p11dkim-keys then looks for the
 *              ceremony log's record of the generation;
 *   hardening  no decrypt, unwrap, derive or sign-recover, not modifiable
 *              or copyable, the mechanisms limited to the signing one;
 *              the public key neither encrypts nor wraps, not modifiable.
 *              Reported; failing only with KEY_AUDIT_STRICT;
 *   other      CKA_DESTROYABLE, reported (rotation destroys retired keys).
 * A secret the token does not know as an attribute (a TPM answers
 * CKR_ATTRIBUTE_TYPE_INVALID for CKA_PRIVATE_EXPONENT) is a secret it
 * cannot reveal: not revealed, and said so.
 */
#ifndef P11DKIM_KEY_AUDIT_H
#define P11DKIM_KEY_AUDIT_H

#include <stddef.h>

#include <openssl/evp.h>

#include "p11dkim/buf.h"
#include "p11dkim/token.h"

#define KEY_AUDIT_FPR_LEN	64	/* hex SHA-256 */
#define KEY_AUDIT_MECHS_MAX	16	/* CKA_ALLOWED_MECHANISMS entries */

/* What the token said of one attribute. */
#define KA_FALSE	0
#define KA_TRUE		1
#define KA_UNKNOWN	(-1)	/* it does not know the attribute */
#define KA_UNREADABLE	(-2)	/* it would not say (rv says why) */
#define KA_LISTED	2	/* CKA_ALLOWED_MECHANISMS: a list */

/* The attributes read, in report order. */
enum key_audit_attr {
	KA_TOKEN, KA_PRIVATE, KA_SENSITIVE, KA_EXTRACTABLE, KA_SIGN,
	KA_LOCAL, KA_ALWAYS_SENSITIVE, KA_NEVER_EXTRACTABLE,
	KA_ALLOWED_MECHANISMS, KA_DECRYPT, KA_UNWRAP, KA_DERIVE,
	KA_SIGN_RECOVER, KA_MODIFIABLE, KA_COPYABLE, KA_PUB_ENCRYPT,
	KA_PUB_WRAP, KA_PUB_MODIFIABLE, KA_DESTROYABLE,
	KA_ATTRS
};

enum key_audit_role { KA_ESSENTIAL, KA_ORIGIN, KA_HARDENING, KA_OTHER };

/* What an attribute means for the audit. */
enum key_audit_verdict {
	KA_OK,			/* as it should be */
	KA_FAIL,		/* the key fails the audit */
	KA_VOUCHED,		/* CKA_LOCAL false, vouched for by the caller */
	KA_NOT_IN_FORCE,	/* a hardening attribute the key lacks */
	KA_NOT_KNOWN,		/* a hardening attribute the token does not know */
	KA_INFO			/* reported only */
};

/* key_audit_verdict's flags */
#define KEY_AUDIT_LOCAL_VOUCHED	0x1	/* CKA_LOCAL false is explained */
#define KEY_AUDIT_STRICT	0x2	/* hardening counts too */

struct key_audit_value {
	int	 state;			/* KA_TRUE ... KA_LISTED */
	CK_RV	 rv;			/* the token's answer */
};

struct key_audit {
	char	 label[P11_KEY_LABEL_MAX + 1];
	int	 type;			/* enum p11_key_type, or 0: other */
	int	 bits;
	struct key_audit_value attr[KA_ATTRS];
	CK_MECHANISM_TYPE allowed[KEY_AUDIT_MECHS_MAX];
	size_t	 nallowed;		/* when attr[KA_ALLOWED_MECHANISMS]
					   is KA_LISTED */
	int	 secret_readable;	/* 1: the token revealed key material */
	CK_RV	 secret_rv;		/* its answer: CKR_ATTRIBUTE_SENSITIVE */
	EVP_PKEY *pub;			/* NULL: no public key object */
	char	 fingerprint[KEY_AUDIT_FPR_LEN + 1];	/* "" without pub */
};

/* key_audit_list - every private key on the token; free with _free */
int	key_audit_list(struct token *, struct key_audit **list, size_t *n,
	    struct p11_err *);

/* key_audit_attr_name - "CKA_DECRYPT", "public CKA_ENCRYPT" */
const char *key_audit_attr_name(enum key_audit_attr);

/* key_audit_attr_role - essential, origin, hardening or other */
enum key_audit_role key_audit_attr_role(enum key_audit_attr);

/* key_audit_value_text - "true", "false", "{CKM_RSA_PKCS}", "unknown" */
const char *key_audit_value_text(const struct key_audit *,
	    enum key_audit_attr, char *buf, size_t len);

/* key_audit_verdict - what one attribute of the key means (see above) */
enum key_audit_verdict key_audit_verdict(const struct key_audit *,
	    enum key_audit_attr, unsigned flags);

/*
 * key_audit_problems - append one line per reason the key fails the
 * audit (essential or origin attribute, secret revealed, RSA under 2048
 * bits, no public key, other key type; with KEY_AUDIT_STRICT, hardening
 * not in force); returns the number of reasons.
 */
int	key_audit_problems(const struct key_audit *, unsigned flags,
	    struct buf *why);

/* key_audit_fingerprint - hex SHA-256 of the SubjectPublicKeyInfo */
int	key_audit_fingerprint(EVP_PKEY *, char out[KEY_AUDIT_FPR_LEN + 1]);

/* key_audit_free - free a list */
void	key_audit_free(struct key_audit *, size_t n);

#endif
