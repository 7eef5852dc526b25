/*
 * keygen.h - key pairs born on the token, and their destruction.
 *
 * The private key template of a ceremony (PKCS11-NOTES.md): token object,
 * private, sensitive, never extractable, sign only (no decrypt, unwrap,
 * derive or sign-recover), not modifiable where the token allows, its
 * mechanisms limited to CKM_RSA_PKCS or CKM_EDDSA, a random CKA_ID shared
 * with the public key, and the label given.  The public key: token object,
 * public, verify only.  Nothing of the private key ever leaves the token.
 */
#ifndef P11DKIM_KEYGEN_H
#define P11DKIM_KEYGEN_H

#include "p11dkim/token.h"

struct keygen_result {
	int	 modifiable_refused;	/* the token would not take MODIFIABLE false */
	int	 ec_params_printable;	/* it wanted "edwards25519", not the OID */
};

/*
 * keygen_generate - a new key pair labelled label; bits for RSA (2048,
 * 3072, 4096), ignored for Ed25519.  Refused when any object on the token
 * already has that label.  Needs a user login (token_open).
 */
int	keygen_generate(struct token *, enum p11_key_type, unsigned bits,
	    const char *label, struct keygen_result *, struct p11_err *);

/* keygen_destroy - destroy the private and public key labelled label */
int	keygen_destroy(struct token *, const char *label, struct p11_err *);

/* keygen_label_exists - 1 if an object with this label exists, 0 if not */
int	keygen_label_exists(struct token *, const char *label,
	    struct p11_err *);

#endif
