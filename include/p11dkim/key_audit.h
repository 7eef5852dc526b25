/*
 * key_audit.h - what a token says about each key on it, and whether any
 * key could have left the token.
 *
 * Read from the token (never assumed from how we generated it): the key
 * type and size, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE,
 * CKA_NEVER_EXTRACTABLE, CKA_LOCAL and the permitted uses; and whether the
 * token refuses to reveal the secret (CKA_PRIVATE_EXPONENT or CKA_VALUE
 * must answer CKR_ATTRIBUTE_SENSITIVE).
 */
#ifndef P11DKIM_KEY_AUDIT_H
#define P11DKIM_KEY_AUDIT_H

#include <stddef.h>

#include <openssl/evp.h>

#include "p11dkim/buf.h"
#include "p11dkim/token.h"

#define KEY_AUDIT_FPR_LEN	64	/* hex SHA-256 */

/* A boolean attribute: 1, 0, or -1 when the token would not say. */
struct key_audit {
	char	 label[P11_KEY_LABEL_MAX + 1];
	int	 type;			/* enum p11_key_type, or 0: other */
	int	 bits;
	int	 sensitive, always_sensitive, extractable, never_extractable;
	int	 local, sign, decrypt, unwrap, derive, sign_recover, modifiable;
	int	 secret_readable;	/* 1: the token revealed key material */
	CK_RV	 secret_rv;		/* its answer: CKR_ATTRIBUTE_SENSITIVE */
	EVP_PKEY *pub;			/* NULL: no public key object */
	char	 fingerprint[KEY_AUDIT_FPR_LEN + 1];	/* "" without pub */
};

/* key_audit_list - every private key on the token; free with _free */
int	key_audit_list(struct token *, struct key_audit **list, size_t *n,
	    struct p11_err *);

/*
 * key_audit_problems - append one line per reason the key fails the
 * audit (could have left the token, imported, RSA under 2048 bits,
 * decrypt or unwrap permitted); returns the number of reasons.
 */
int	key_audit_problems(const struct key_audit *, struct buf *why);

/* key_audit_fingerprint - hex SHA-256 of the SubjectPublicKeyInfo */
int	key_audit_fingerprint(EVP_PKEY *, char out[KEY_AUDIT_FPR_LEN + 1]);

/* key_audit_free - free a list */
void	key_audit_free(struct key_audit *, size_t n);

#endif
