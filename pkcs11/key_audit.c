/*
 * key_audit.c - read every key's security attributes from the token and
 * judge them (see include/p11dkim/key_audit.h).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "p11dkim/key_audit.h"
#include "token_int.h"

#define KEYS_MAX	256

/* read_bool - a CK_BBOOL attribute: 1, 0, or -1 when not readable */
static int
read_bool(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	if (t->fn->C_GetAttributeValue(s, o, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(v))
		return -1;
	return v == CK_TRUE;
}

/*
 * secret_readable - ask for the secret itself.  A sound token answers
 * CKR_ATTRIBUTE_SENSITIVE; anything that hands over bytes fails the audit.
 */
static int
secret_readable(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    int type, CK_RV *rv)
{
	CK_ATTRIBUTE a = { type == P11_KEY_RSA ? CKA_PRIVATE_EXPONENT :
	    CKA_VALUE, NULL, 0 };

	*rv = t->fn->C_GetAttributeValue(s, o, &a, 1);
	return *rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION &&
	    a.ulValueLen > 0;
}

/* find_public_by_id - the public key object sharing CKA_ID, or 0 */
static CK_OBJECT_HANDLE
find_public_by_id(struct token *t, CK_SESSION_HANDLE s, const void *id,
    CK_ULONG idlen)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)(uintptr_t)id, idlen },
	};
	CK_OBJECT_HANDLE o;
	CK_ULONG n;
	struct p11_err ignored;

	if (p11_find_objects(t, s, tmpl, 2, &o, 1, &n, &ignored) < 0 || n != 1)
		return CK_INVALID_HANDLE;
	return o;
}

/* describe - everything about private key o */
static void
describe(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    struct key_audit *a)
{
	unsigned char id[P11_KEY_ID_MAX];
	char	 label[P11_KEY_LABEL_MAX];
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE attrs[] = {
		{ CKA_LABEL, label, sizeof(label) },
		{ CKA_ID, id, sizeof(id) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	CK_OBJECT_HANDLE pub;
	struct p11_err ignored;

	memset(a, 0, sizeof(*a));
	if (t->fn->C_GetAttributeValue(s, o, attrs, 3) != CKR_OK)
		attrs[0].ulValueLen = attrs[1].ulValueLen = 0;
	if (attrs[0].ulValueLen != CK_UNAVAILABLE_INFORMATION)
		snprintf(a->label, sizeof(a->label), "%.*s",
		    (int)attrs[0].ulValueLen, label);
	a->type = kt == CKK_RSA ? P11_KEY_RSA : kt == CKK_EC_EDWARDS ?
	    P11_KEY_ED25519 : 0;
	a->sensitive = read_bool(t, s, o, CKA_SENSITIVE);
	a->always_sensitive = read_bool(t, s, o, CKA_ALWAYS_SENSITIVE);
	a->extractable = read_bool(t, s, o, CKA_EXTRACTABLE);
	a->never_extractable = read_bool(t, s, o, CKA_NEVER_EXTRACTABLE);
	a->local = read_bool(t, s, o, CKA_LOCAL);
	a->sign = read_bool(t, s, o, CKA_SIGN);
	a->decrypt = read_bool(t, s, o, CKA_DECRYPT);
	a->unwrap = read_bool(t, s, o, CKA_UNWRAP);
	a->derive = read_bool(t, s, o, CKA_DERIVE);
	a->sign_recover = read_bool(t, s, o, CKA_SIGN_RECOVER);
	a->modifiable = read_bool(t, s, o, CKA_MODIFIABLE);
	if (a->type != 0)
		a->secret_readable = secret_readable(t, s, o, a->type,
		    &a->secret_rv);
	if (a->type == 0 || attrs[1].ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return;
	pub = find_public_by_id(t, s, id, attrs[1].ulValueLen);
	if (pub != CK_INVALID_HANDLE && (a->pub = p11_public_key(t, s, pub,
	    (enum p11_key_type)a->type, &ignored)) != NULL) {
		a->bits = EVP_PKEY_get_bits(a->pub);
		key_audit_fingerprint(a->pub, a->fingerprint);
	}
}

/* key_audit_list - every private key on the token */
int
key_audit_list(struct token *t, struct key_audit **list, size_t *n,
    struct p11_err *err)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE found[KEYS_MAX];
	CK_SESSION_HANDLE s;
	unsigned long epoch;
	CK_ULONG count = 0;
	int	 rc;

	*list = NULL;
	*n = 0;
	p11_module_enter(t->mod);
	if ((rc = token_session_get(t, &s, &epoch, err)) == 0) {
		rc = p11_find_objects(t, s, tmpl, 1, found, KEYS_MAX, &count,
		    err);
		if (rc == 0 && count > 0 &&
		    (*list = calloc(count, sizeof(**list))) == NULL)
			rc = p11_err_set(err, 1, CKR_HOST_MEMORY,
			    "out of memory");
		for (CK_ULONG i = 0; rc == 0 && i < count; i++)
			describe(t, s, found[i], &(*list)[i]);
		token_session_put(t, s, rc == 0);
	}
	p11_module_leave(t->mod);
	if (rc == 0)
		*n = count;
	return rc;
}

/* problem - append one reason */
static int
problem(struct buf *why, const char *text)
{
	if (why != NULL) {
		(void)buf_append_str(why, text);
		(void)buf_append(why, "\n", 1);
	}
	return 1;
}

/* key_audit_problems - one line per reason the key fails the audit */
int
key_audit_problems(const struct key_audit *a, struct buf *why)
{
	int	 n = 0;

	if (a->extractable != 0)
		n += problem(why, "CKA_EXTRACTABLE is not false: the key can "
		    "be exported");
	if (a->never_extractable != 1)
		n += problem(why, "CKA_NEVER_EXTRACTABLE is not true: the key "
		    "may have been exported");
	if (a->sensitive != 1)
		n += problem(why, "CKA_SENSITIVE is not true");
	if (a->always_sensitive != 1)
		n += problem(why, "CKA_ALWAYS_SENSITIVE is not true: the key "
		    "was readable at some time");
	if (a->secret_readable)
		n += problem(why, "the token revealed the private key's value");
	if (a->local != 1)
		n += problem(why, "CKA_LOCAL is not true: the key was imported, "
		    "not generated on the token");
	if (a->decrypt != 0)
		n += problem(why, "CKA_DECRYPT is permitted");
	if (a->unwrap != 0)
		n += problem(why, "CKA_UNWRAP is permitted");
	if (a->type == 0)
		n += problem(why, "neither an RSA nor an Ed25519 key");
	if (a->type == P11_KEY_RSA && a->bits < 2048)
		n += problem(why, "RSA key under 2048 bits");
	if (a->type != 0 && a->pub == NULL)
		n += problem(why, "no public key object");
	return n;
}

/* key_audit_fingerprint - hex SHA-256 of the SubjectPublicKeyInfo */
int
key_audit_fingerprint(EVP_PKEY *pub, char out[KEY_AUDIT_FPR_LEN + 1])
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	int	 len = i2d_PUBKEY(pub, &der);

	out[0] = '\0';
	if (len <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* key_audit_free - free a list */
void
key_audit_free(struct key_audit *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(list[i].pub);
	free(list);
}
