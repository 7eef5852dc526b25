/*
 * key_audit.c - read every key's security attributes from the token and
 * judge them (see include/p11dkim/key_audit.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "p11dkim/key_audit.h"
#include "p11dkim/token_caps.h"
#include "token_int.h"

#define KEYS_MAX	256

/* What the audit reads, and what it wants. */
struct attr_info {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
	enum key_audit_role role;
	int	 public;		/* read from the public key object */
	int	 want;			/* KA_TRUE or KA_FALSE; -1: anything */
};

static const struct attr_info attrs[KA_ATTRS] = {
	[KA_TOKEN] = { CKA_TOKEN, "CKA_TOKEN", KA_ESSENTIAL, 0, KA_TRUE },
	[KA_PRIVATE] = { CKA_PRIVATE, "CKA_PRIVATE", KA_ESSENTIAL, 0,
	    KA_TRUE },
	[KA_SENSITIVE] = { CKA_SENSITIVE, "CKA_SENSITIVE", KA_ESSENTIAL, 0,
	    KA_TRUE },
	[KA_EXTRACTABLE] = { CKA_EXTRACTABLE, "CKA_EXTRACTABLE", KA_ESSENTIAL,
	    0, KA_FALSE },
	[KA_SIGN] = { CKA_SIGN, "CKA_SIGN", KA_ESSENTIAL, 0, KA_TRUE },
	[KA_LOCAL] = { CKA_LOCAL, "CKA_LOCAL", KA_ORIGIN, 0, KA_TRUE },
	[KA_ALWAYS_SENSITIVE] = { CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE",
	    KA_ORIGIN, 0, KA_TRUE },
	[KA_NEVER_EXTRACTABLE] = { CKA_NEVER_EXTRACTABLE,
	    "CKA_NEVER_EXTRACTABLE", KA_ORIGIN, 0, KA_TRUE },
	[KA_ALLOWED_MECHANISMS] = { CKA_ALLOWED_MECHANISMS,
	    "CKA_ALLOWED_MECHANISMS", KA_HARDENING, 0, KA_TRUE },
	[KA_DECRYPT] = { CKA_DECRYPT, "CKA_DECRYPT", KA_HARDENING, 0,
	    KA_FALSE },
	[KA_UNWRAP] = { CKA_UNWRAP, "CKA_UNWRAP", KA_HARDENING, 0, KA_FALSE },
	[KA_DERIVE] = { CKA_DERIVE, "CKA_DERIVE", KA_HARDENING, 0, KA_FALSE },
	[KA_SIGN_RECOVER] = { CKA_SIGN_RECOVER, "CKA_SIGN_RECOVER",
	    KA_HARDENING, 0, KA_FALSE },
	[KA_MODIFIABLE] = { CKA_MODIFIABLE, "CKA_MODIFIABLE", KA_HARDENING, 0,
	    KA_FALSE },
	[KA_COPYABLE] = { CKA_COPYABLE, "CKA_COPYABLE", KA_HARDENING, 0,
	    KA_FALSE },
	[KA_PUB_ENCRYPT] = { CKA_ENCRYPT, "public CKA_ENCRYPT", KA_HARDENING,
	    1, KA_FALSE },
	[KA_PUB_WRAP] = { CKA_WRAP, "public CKA_WRAP", KA_HARDENING, 1,
	    KA_FALSE },
	[KA_PUB_MODIFIABLE] = { CKA_MODIFIABLE, "public CKA_MODIFIABLE",
	    KA_HARDENING, 1, KA_FALSE },
	[KA_DESTROYABLE] = { CKA_DESTROYABLE, "CKA_DESTROYABLE", KA_OTHER, 0,
	    -1 },
};

/* key_audit_attr_name - "CKA_DECRYPT", "public CKA_ENCRYPT" */
const char *
key_audit_attr_name(enum key_audit_attr a)
{
	return a < KA_ATTRS ? attrs[a].name : "?";
}

/* key_audit_attr_role - essential, origin, hardening or other */
enum key_audit_role
key_audit_attr_role(enum key_audit_attr a)
{
	return a < KA_ATTRS ? attrs[a].role : KA_OTHER;
}

/* answer - what the token's answer to a read says */
static struct key_audit_value
answer(CK_RV rv)
{
	struct key_audit_value v = { KA_UNREADABLE, rv };

	if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
		v.state = KA_UNKNOWN;
	return v;
}

/* read_bool - a CK_BBOOL attribute */
static struct key_audit_value
read_bool(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };
	CK_RV	 rv = t->fn->C_GetAttributeValue(s, o, &a, 1);

	if (rv != CKR_OK)
		return answer(rv);
	if (a.ulValueLen != sizeof(v))
		return answer(CKR_ATTRIBUTE_VALUE_INVALID);
	return (struct key_audit_value){ v == CK_TRUE ? KA_TRUE : KA_FALSE,
	    rv };
}

/* read_mechanisms - CKA_ALLOWED_MECHANISMS: its length, then the list */
static void
read_mechanisms(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    struct key_audit *a)
{
	CK_ATTRIBUTE at = { CKA_ALLOWED_MECHANISMS, NULL, 0 };
	struct key_audit_value *v = &a->attr[KA_ALLOWED_MECHANISMS];
	CK_RV	 rv = t->fn->C_GetAttributeValue(s, o, &at, 1);

	if (rv == CKR_OK && (at.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
	    at.ulValueLen % sizeof(CK_MECHANISM_TYPE) != 0 ||
	    at.ulValueLen > sizeof(a->allowed)))
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK) {
		at.pValue = a->allowed;
		rv = t->fn->C_GetAttributeValue(s, o, &at, 1);
	}
	if (rv != CKR_OK) {
		*v = answer(rv);
		return;
	}
	a->nallowed = at.ulValueLen / sizeof(CK_MECHANISM_TYPE);
	*v = (struct key_audit_value){ KA_LISTED, rv };
}

/* read_attrs - every attribute of the table, from its key object */
static void
read_attrs(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
    CK_OBJECT_HANDLE pub, struct key_audit *a)
{
	for (int i = 0; i < KA_ATTRS; i++) {
		if (i == KA_ALLOWED_MECHANISMS)
			read_mechanisms(t, s, priv, a);
		else if (attrs[i].public && pub == CK_INVALID_HANDLE)
			a->attr[i] = answer(CKR_OBJECT_HANDLE_INVALID);
		else
			a->attr[i] = read_bool(t, s, attrs[i].public ? pub :
			    priv, attrs[i].type);
	}
}

/*
 * secret_readable - ask for the secret itself.  A sound token answers
 * CKR_ATTRIBUTE_SENSITIVE (or, when it keeps no such attribute at all,
 * CKR_ATTRIBUTE_TYPE_INVALID); anything that hands over bytes fails the
 * audit.
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

/* set_label - the label read back; NSS pads it with NULs */
static void
set_label(struct key_audit *a, const char *label, CK_ULONG len)
{
	if (len == CK_UNAVAILABLE_INFORMATION)
		len = 0;
	while (len > 0 && label[len - 1] == '\0')
		len--;
	snprintf(a->label, sizeof(a->label), "%.*s", (int)len, label);
}

/* describe - everything about private key o */
static void
describe(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    struct key_audit *a)
{
	unsigned char id[P11_KEY_ID_MAX];
	char	 label[P11_KEY_LABEL_MAX];
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE at[] = {
		{ CKA_LABEL, label, sizeof(label) },
		{ CKA_ID, id, sizeof(id) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
	struct p11_err ignored;

	memset(a, 0, sizeof(*a));
	if (t->fn->C_GetAttributeValue(s, o, at, 3) != CKR_OK)
		at[0].ulValueLen = at[1].ulValueLen = CK_UNAVAILABLE_INFORMATION;
	set_label(a, label, at[0].ulValueLen);
	a->type = kt == CKK_RSA ? P11_KEY_RSA : kt == CKK_EC_EDWARDS ?
	    P11_KEY_ED25519 : 0;
	if (a->type != 0 && at[1].ulValueLen != CK_UNAVAILABLE_INFORMATION)
		pub = find_public_by_id(t, s, id, at[1].ulValueLen);
	read_attrs(t, s, o, pub, a);
	if (a->type != 0)
		a->secret_readable = secret_readable(t, s, o, a->type,
		    &a->secret_rv);
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

/* signing_mechanism - the mechanism a key of this type signs with */
static CK_MECHANISM_TYPE
signing_mechanism(int type)
{
	return type == P11_KEY_RSA ? CKM_RSA_PKCS : CKM_EDDSA;
}

/* key_audit_value_text - "true", "false", "{CKM_RSA_PKCS}", "unknown" */
const char *
key_audit_value_text(const struct key_audit *a, enum key_audit_attr i,
    char *buf, size_t len)
{
	const struct key_audit_value *v = &a->attr[i];
	size_t	 n = 0;

	switch (v->state) {
	case KA_TRUE:		return "true";
	case KA_FALSE:		return "false";
	case KA_UNKNOWN:	return "unknown";
	case KA_UNREADABLE:	return "unreadable";
	}
	n += (size_t)snprintf(buf, len, "{");
	for (size_t k = 0; k < a->nallowed && n < len; k++) {
		char	 name[32];

		n += (size_t)snprintf(buf + n, len - n, "%s%s", k ? "," : "",
		    p11_mech_name(a->allowed[k], name, sizeof(name)));
	}
	if (n < len)
		snprintf(buf + n, len - n, "}");
	return buf;
}

/* allowed_ok - CKA_ALLOWED_MECHANISMS holds the signing mechanism alone */
static int
allowed_ok(const struct key_audit *a)
{
	return a->attr[KA_ALLOWED_MECHANISMS].state == KA_LISTED &&
	    a->nallowed == 1 && a->allowed[0] == signing_mechanism(a->type);
}

/* key_audit_verdict - what one attribute of the key means */
enum key_audit_verdict
key_audit_verdict(const struct key_audit *a, enum key_audit_attr i,
    unsigned flags)
{
	const struct attr_info *ai = &attrs[i];
	int	 state = a->attr[i].state;
	int	 ok = i == KA_ALLOWED_MECHANISMS ? allowed_ok(a) :
	    state == ai->want;

	switch (ai->role) {
	case KA_ESSENTIAL:
		return ok ? KA_OK : KA_FAIL;
	case KA_ORIGIN:
		if (!ok && i == KA_LOCAL && (state == KA_FALSE ||
		    state == KA_UNKNOWN) &&
		    (flags & KEY_AUDIT_LOCAL_VOUCHED))
			return KA_VOUCHED;
		return ok ? KA_OK : KA_FAIL;
	case KA_HARDENING:
		if (ok)
			return KA_OK;
		return state == KA_UNKNOWN ? KA_NOT_KNOWN : KA_NOT_IN_FORCE;
	default:
		return KA_INFO;
	}
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

/* attr_problems - one line per attribute that fails the key */
static int
attr_problems(const struct key_audit *a, unsigned flags, struct buf *why)
{
	char	 line[160], v[128];
	int	 n = 0;

	for (int i = 0; i < KA_ATTRS; i++) {
		enum key_audit_verdict vd = key_audit_verdict(a,
		    (enum key_audit_attr)i, flags);

		if (vd != KA_FAIL && !((flags & KEY_AUDIT_STRICT) &&
		    (vd == KA_NOT_IN_FORCE || vd == KA_NOT_KNOWN)))
			continue;
		snprintf(line, sizeof(line), "%s is %s, not %s%s", attrs[i].name,
		    key_audit_value_text(a, (enum key_audit_attr)i, v,
		    sizeof(v)), i == KA_ALLOWED_MECHANISMS ? "the signing "
		    "mechanism alone" : attrs[i].want == KA_TRUE ? "true" :
		    "false", i == KA_LOCAL ? ": the key may have been imported, "
		    "not generated on the token" : "");
		n += problem(why, line);
	}
	return n;
}

/* key_audit_problems - one line per reason the key fails the audit */
int
key_audit_problems(const struct key_audit *a, unsigned flags,
    struct buf *why)
{
	int	 n = attr_problems(a, flags, why);

	if (a->secret_readable)
		n += problem(why, "the token revealed the private key's value");
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
