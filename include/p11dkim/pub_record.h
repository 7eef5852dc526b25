/*
 * pub_record.h - an institution's public key records: one file per key,
 * <state-dir>/<code>.<selector>.spki, holding the key's
 * SubjectPublicKeyInfo in DER, so that commands which only need public
 * keys (p11dkim-keys dns, check-dns, rotate publish/verify) do not load
 * the PKCS#11 module.
 *
 * DER, not PEM: the SHA-256 of the file's bytes is then the fingerprint
 * the ceremony log records for the key's generation (`sha256sum` shows
 * it), and there is exactly one encoding to check.
 *
 * Security notes: a record is only trusted when its SHA-256 equals the
 * fingerprint the (verified) ceremony log holds for the key; that check
 * is the caller's, pub_record_check() does the comparison.  Records are
 * read with a PUB_RECORD_MAX bound, and the DER must be exactly one
 * SubjectPublicKeyInfo of the expected type.
 *
 * Errors: -1 with a one-line message in err (errlen bytes).
 */
#ifndef P11DKIM_PUB_RECORD_H
#define P11DKIM_PUB_RECORD_H

#include <stddef.h>

#include <openssl/evp.h>

#define PUB_RECORD_MAX	4096	/* bytes: an RSA-4096 SPKI is 550 */
#define PUB_RECORD_FPR	65	/* hex SHA-256 and NUL */

/* What pub_record_check() found wrong. */
enum pub_record_fault {
	PUB_RECORD_OK,
	PUB_RECORD_MISMATCH,	/* SHA-256 is not the expected fingerprint */
	PUB_RECORD_BAD_DER,	/* not exactly one SubjectPublicKeyInfo */
	PUB_RECORD_WRONG_TYPE	/* another key type than expected */
};

/* pub_record_path - "<state_dir>/<code>.<selector>.spki"; -1: too long */
int	pub_record_path(const char *state_dir, const char *code,
	    const char *selector, char *out, size_t len);

/*
 * pub_record_read - the record at path, at most PUB_RECORD_MAX bytes,
 * into buf (PUB_RECORD_MAX bytes); 1 with *len, 0 when there is none,
 * -1 when it cannot be read or is too large.
 */
int	pub_record_read(const char *path, unsigned char *buf, size_t *len,
	    char *err, size_t errlen);

/* pub_record_fingerprint - hex SHA-256 of len bytes */
int	pub_record_fingerprint(const unsigned char *der, size_t len,
	    char out[PUB_RECORD_FPR]);

/*
 * pub_record_check - der (len bytes) must hash to want_fpr and be one
 * SubjectPublicKeyInfo of type want_type (EVP_PKEY_RSA or
 * EVP_PKEY_ED25519).  Returns PUB_RECORD_OK with the key in *out (the
 * caller frees it with EVP_PKEY_free), or the fault with why in err.
 */
enum pub_record_fault pub_record_check(const unsigned char *der, size_t len,
	    const char *want_fpr, int want_type, EVP_PKEY **out, char *err,
	    size_t errlen);

/*
 * pub_record_encode - the DER SubjectPublicKeyInfo of pk; *der is freed
 * with OPENSSL_free.  -1 when it cannot be encoded.
 */
int	pub_record_encode(EVP_PKEY *pk, unsigned char **der, size_t *len);

#endif
