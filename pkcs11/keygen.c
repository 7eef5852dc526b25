/*
 * keygen.c - generate key pairs on the token, destroy them (see
 * include/p11dkim/keygen.h).
 *
 * Security: the templates below are the whole of the key's policy; the
 * token is checked to have applied them by key_audit.c, not trusted.
 */
#include <string.h>

#include <openssl/rand.h>

#include "p11dkim/keygen.h"
#include "token_int.h"

#define KEY_ID_LEN	16

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* DER OID 1.3.101.112 (id-Ed25519), and the printable-string form. */
static const unsigned char ed25519_oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const unsigned char ed25519_name[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a',
	'r', 'd', 's', '2', '5', '5', '1', '9' };

/* rw_session - a read-write session on the logged-in token */
static int
rw_session(struct token *t, CK_SESSION_HANDLE *rw, struct p11_err *err)
{
	CK_SESSION_HANDLE s;
	unsigned long epoch;
	CK_RV	 rv;

	if (token_session_get(t, &s, &epoch, err) < 0)	/* logs in if needed */
		return -1;
	token_session_put(t, s, 1);
	rv = t->fn->C_OpenSession(t->info.slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, rw);
	if (rv != CKR_OK)
		return p11_err_rv(err, rv, "C_OpenSession (read-write) on "
		    "token '%s'", t->info.label);
	return 0;
}

/* label_count - how many objects carry this label */
static int
label_count(struct token *t, CK_SESSION_HANDLE s, const char *label,
    CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *n, struct p11_err *err)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};

	return p11_find_objects(t, s, tmpl, 1, found, max, n, err);
}

/* generate_pair - one C_GenerateKeyPair with the ceremony's templates */
static CK_RV
generate_pair(struct token *t, CK_SESSION_HANDLE s, enum p11_key_type type,
    CK_ULONG bits, const char *label, const unsigned char *id,
    const unsigned char *params, size_t params_len, int modifiable_attr)
{
	CK_MECHANISM_TYPE allowed = type == P11_KEY_RSA ? CKM_RSA_PKCS :
	    CKM_EDDSA;
	CK_MECHANISM mech = { type == P11_KEY_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN :
	    CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE	 exponent[] = { 0x01, 0x00, 0x01 };
	CK_ULONG ll = strlen(label);
	CK_ATTRIBUTE pub[10] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_ID, (void *)(uintptr_t)id, KEY_ID_LEN },
		{ CKA_LABEL, (void *)(uintptr_t)label, ll },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_SIGN_RECOVER, &no, sizeof(no) },
		{ CKA_ALLOWED_MECHANISMS, &allowed, sizeof(allowed) },
		{ CKA_ID, (void *)(uintptr_t)id, KEY_ID_LEN },
		{ CKA_LABEL, (void *)(uintptr_t)label, ll },
		{ CKA_MODIFIABLE, &no, sizeof(no) },
	};
	CK_ULONG npub = 7, npriv = sizeof(priv) / sizeof(priv[0]);
	CK_OBJECT_HANDLE hpub, hpriv;

	if (modifiable_attr)
		pub[npub++] = (CK_ATTRIBUTE){ CKA_MODIFIABLE, &no, sizeof(no) };
	if (type == P11_KEY_RSA) {
		pub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits,
		    sizeof(bits) };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exponent,
		    sizeof(exponent) };
	} else {
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS,
		    (void *)(uintptr_t)params, params_len };
	}
	if (!modifiable_attr)
		npriv--;
	return t->fn->C_GenerateKeyPair(s, &mech, pub, npub, priv, npriv,
	    &hpub, &hpriv);
}

/* refused_attr - did the token refuse an attribute we may drop? */
static int
refused_attr(CK_RV rv)
{
	return rv == CKR_ATTRIBUTE_TYPE_INVALID ||
	    rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT;
}

/* refused_params - did the token refuse the curve's encoding? */
static int
refused_params(CK_RV rv)
{
	return rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_CURVE_NOT_SUPPORTED ||
	    rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT;
}

/*
 * generate_with_fallbacks - the Ed25519 curve as OID, else as its name;
 * CKA_MODIFIABLE false, else (some tokens refuse it) left to the token.
 */
static CK_RV
generate_with_fallbacks(struct token *t, CK_SESSION_HANDLE s,
    enum p11_key_type type, CK_ULONG bits, const char *label,
    const unsigned char *id, struct keygen_result *res)
{
	const unsigned char *params = ed25519_oid;
	size_t	 plen = sizeof(ed25519_oid);
	CK_RV	 rv;

	rv = generate_pair(t, s, type, bits, label, id, params, plen, 1);
	if (type == P11_KEY_ED25519 && refused_params(rv)) {
		params = ed25519_name;
		plen = sizeof(ed25519_name);
		rv = generate_pair(t, s, type, bits, label, id, params, plen, 1);
		res->ec_params_printable = rv == CKR_OK;
		if (rv != CKR_OK) {
			params = ed25519_oid;
			plen = sizeof(ed25519_oid);
		}
	}
	if (refused_attr(rv)) {
		rv = generate_pair(t, s, type, bits, label, id, params, plen, 0);
		res->modifiable_refused = rv == CKR_OK;
	}
	return rv;
}

/* keygen_generate - a new key pair labelled label, born on the token */
int
keygen_generate(struct token *t, enum p11_key_type type, unsigned bits,
    const char *label, struct keygen_result *res, struct p11_err *err)
{
	unsigned char id[KEY_ID_LEN];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE found[1];
	CK_ULONG n;
	CK_RV	 rv;
	int	 rc = -1;

	memset(res, 0, sizeof(*res));
	if (type == P11_KEY_RSA && bits != 2048 && bits != 3072 && bits != 4096)
		return p11_err_set(err, 0, CKR_OK, "RSA keys are 2048, 3072 "
		    "or 4096 bits, not %u", bits);
	if (RAND_bytes(id, sizeof(id)) != 1)
		return p11_err_set(err, 1, CKR_OK, "no random bytes for "
		    "CKA_ID");
	p11_module_enter(t->mod);
	if (rw_session(t, &s, err) < 0)
		goto out_module;
	if (label_count(t, s, label, found, 1, &n, err) < 0)
		goto out;
	if (n > 0) {
		p11_err_set(err, 0, CKR_OK, "token '%s' already has a key "
		    "labelled '%s': refusing to overwrite it", t->info.label,
		    label);
		goto out;
	}
	rv = generate_with_fallbacks(t, s, type, bits, label, id, res);
	if (rv != CKR_OK) {
		p11_err_rv(err, rv, "C_GenerateKeyPair (%s) on token '%s'",
		    type == P11_KEY_RSA ? "RSA" : "Ed25519", t->info.label);
		goto out;
	}
	rc = 0;
out:
	(void)t->fn->C_CloseSession(s);
out_module:
	p11_module_leave(t->mod);
	return rc;
}

/* keygen_destroy - destroy the private and public key labelled label */
int
keygen_destroy(struct token *t, const char *label, struct p11_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE found[8];
	CK_ULONG n;
	CK_RV	 rv;
	int	 rc = -1;

	p11_module_enter(t->mod);
	if (rw_session(t, &s, err) < 0)
		goto out_module;
	if (label_count(t, s, label, found, 8, &n, err) < 0)
		goto out;
	if (n == 0) {
		p11_err_set(err, 0, CKR_OK, "token '%s' has no key labelled "
		    "'%s'", t->info.label, label);
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++)
		if ((rv = t->fn->C_DestroyObject(s, found[i])) != CKR_OK) {
			p11_err_rv(err, rv, "C_DestroyObject '%s' on token "
			    "'%s'", label, t->info.label);
			goto out;
		}
	rc = 0;
out:
	(void)t->fn->C_CloseSession(s);
out_module:
	p11_module_leave(t->mod);
	return rc;
}

/* keygen_label_exists - 1 if an object with this label exists, 0 if not */
int
keygen_label_exists(struct token *t, const char *label, struct p11_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE found[1];
	unsigned long epoch;
	CK_ULONG n = 0;
	int	 rc;

	p11_module_enter(t->mod);
	rc = token_session_get(t, &s, &epoch, err);
	if (rc == 0) {
		rc = label_count(t, s, label, found, 1, &n, err);
		token_session_put(t, s, rc == 0);
	}
	p11_module_leave(t->mod);
	return rc < 0 ? -1 : n > 0;
}
