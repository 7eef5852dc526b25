/*
 * keygen.c - generate key pairs on the token, destroy them (see
 * include/p11dkim/keygen.h).
 *
 * Security: the templates below are the whole of the key's policy; the
 * token is checked to have applied them by key_audit.c, not trusted.
 * The essential part of a template is never changed; the hardening part
 * loses only what the token refuses (keygen_search.c finds it), and the
 * caller is told each attribute dropped and the token's answer.
 */
#include <string.h>

#include <openssl/rand.h>

#include "p11dkim/keygen.h"
#include "p11dkim/keygen_search.h"
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

/* One hardening attribute: its item, which key, its type, its value. */
struct hardening {
	enum keygen_attr item;
	int	 public;
	CK_ATTRIBUTE_TYPE type;
	const char *name;
};

static const struct hardening hardening[KEYGEN_ATTRS] = {
	{ KEYGEN_PUB_ENCRYPT, 1, CKA_ENCRYPT, "public CKA_ENCRYPT" },
	{ KEYGEN_DECRYPT, 0, CKA_DECRYPT, "CKA_DECRYPT" },
	{ KEYGEN_ALLOWED_ALONE, 0, CKA_ALLOWED_MECHANISMS,
	  "CKA_ALLOWED_MECHANISMS (CKM_RSA_PKCS alone)" },
	{ KEYGEN_COPYABLE, 0, CKA_COPYABLE, "CKA_COPYABLE" },
	{ KEYGEN_ALLOWED_MECHANISMS, 0, CKA_ALLOWED_MECHANISMS,
	  "CKA_ALLOWED_MECHANISMS" },
	{ KEYGEN_PUB_MODIFIABLE, 1, CKA_MODIFIABLE, "public CKA_MODIFIABLE" },
	{ KEYGEN_MODIFIABLE, 0, CKA_MODIFIABLE, "CKA_MODIFIABLE" },
	{ KEYGEN_PUB_WRAP, 1, CKA_WRAP, "public CKA_WRAP" },
	{ KEYGEN_UNWRAP, 0, CKA_UNWRAP, "CKA_UNWRAP" },
	{ KEYGEN_SIGN_RECOVER, 0, CKA_SIGN_RECOVER, "CKA_SIGN_RECOVER" },
	{ KEYGEN_DERIVE, 0, CKA_DERIVE, "CKA_DERIVE" },
};

/* The search's items: the hardening ones, and the curve's encoding. */
#define ITEM_EC_OID	KEYGEN_ATTRS	/* in: OID; out: "edwards25519" */
#define ITEM(i)		(1u << (i))
#define HARDENING_ALL	(ITEM(KEYGEN_ATTRS) - 1)

/* The signing mechanism, with raw RSA where a token builds on it. */
static const CK_MECHANISM_TYPE rsa_and_raw[] = { CKM_RSA_PKCS, CKM_RSA_X_509 };

/*
 * A DigestInfo (SHA-256) of zeros, signed to check that a new key can
 * sign; Ed25519 signs its last 32 bytes.
 */
static const CK_BYTE check_data[51] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
	0x20 };

/*
 * What is generated, whatever the template.  Each attempt gets its own
 * CKA_ID (id's last byte changes): NSS takes a new key with the CKA_ID
 * of one it holds for that same key, so destroying the key a better one
 * replaces would destroy both.
 */
struct keyspec {
	enum p11_key_type type;
	CK_ULONG bits;
	const char *label;
	unsigned char id[KEY_ID_LEN];
	CK_MECHANISM_TYPE allowed;
};

/* A template pair, as built from a set of items. */
struct tmpl {
	CK_ATTRIBUTE pub[16];
	CK_ATTRIBUTE priv[20];
	CK_ULONG npub, npriv;
};

/* keygen_attr_name - "CKA_DECRYPT", or "public CKA_ENCRYPT" */
const char *
keygen_attr_name(enum keygen_attr a)
{
	return a < KEYGEN_ATTRS ? hardening[a].name : "?";
}

/* keygen_attr_wanted - the value asked for: "false", "{CKM_EDDSA}" */
const char *
keygen_attr_wanted(enum keygen_attr a, enum p11_key_type type)
{
	if (a == KEYGEN_ALLOWED_ALONE)
		return "{CKM_RSA_PKCS}";
	if (a != KEYGEN_ALLOWED_MECHANISMS)
		return "false";
	return type == P11_KEY_RSA ? "{CKM_RSA_PKCS,CKM_RSA_X_509}" :
	    "{CKM_EDDSA}";
}

/* add - one attribute at the end of a template */
static void
add(CK_ATTRIBUTE *a, CK_ULONG *n, CK_ATTRIBUTE_TYPE type, const void *v,
    CK_ULONG len)
{
	a[(*n)++] = (CK_ATTRIBUTE){ type, (void *)(uintptr_t)v, len };
}

/* build_essential - what every template holds */
static void
build_essential(struct tmpl *t, const struct keyspec *k, unsigned set)
{
	static const CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	CK_ULONG ll = strlen(k->label);

	t->npub = t->npriv = 0;
	add(t->pub, &t->npub, CKA_TOKEN, &yes, sizeof(yes));
	add(t->pub, &t->npub, CKA_PRIVATE, &no, sizeof(no));
	add(t->pub, &t->npub, CKA_VERIFY, &yes, sizeof(yes));
	add(t->pub, &t->npub, CKA_ID, k->id, KEY_ID_LEN);
	add(t->pub, &t->npub, CKA_LABEL, k->label, ll);
	if (k->type == P11_KEY_RSA) {
		add(t->pub, &t->npub, CKA_MODULUS_BITS, &k->bits,
		    sizeof(k->bits));
		add(t->pub, &t->npub, CKA_PUBLIC_EXPONENT, exponent,
		    sizeof(exponent));
	} else if (set & ITEM(ITEM_EC_OID)) {
		add(t->pub, &t->npub, CKA_EC_PARAMS, ed25519_oid,
		    sizeof(ed25519_oid));
	} else {
		add(t->pub, &t->npub, CKA_EC_PARAMS, ed25519_name,
		    sizeof(ed25519_name));
	}
	add(t->priv, &t->npriv, CKA_TOKEN, &yes, sizeof(yes));
	add(t->priv, &t->npriv, CKA_PRIVATE, &yes, sizeof(yes));
	add(t->priv, &t->npriv, CKA_SENSITIVE, &yes, sizeof(yes));
	add(t->priv, &t->npriv, CKA_EXTRACTABLE, &no, sizeof(no));
	add(t->priv, &t->npriv, CKA_SIGN, &yes, sizeof(yes));
	add(t->priv, &t->npriv, CKA_ID, k->id, KEY_ID_LEN);
	add(t->priv, &t->npriv, CKA_LABEL, k->label, ll);
}

/*
 * add_allowed - CKA_ALLOWED_MECHANISMS: the signing mechanism alone, or
 * for RSA without KEYGEN_ALLOWED_ALONE, raw RSA too
 */
static void
add_allowed(struct tmpl *t, const struct keyspec *k, unsigned set)
{
	if (k->type == P11_KEY_RSA && !(set & ITEM(KEYGEN_ALLOWED_ALONE)))
		add(t->priv, &t->npriv, CKA_ALLOWED_MECHANISMS, rsa_and_raw,
		    sizeof(rsa_and_raw));
	else
		add(t->priv, &t->npriv, CKA_ALLOWED_MECHANISMS, &k->allowed,
		    sizeof(k->allowed));
}

/* build - the templates with the essentials and the items of set */
static void
build(struct tmpl *t, const struct keyspec *k, unsigned set)
{
	build_essential(t, k, set);
	for (size_t i = 0; i < KEYGEN_ATTRS; i++) {
		const struct hardening *h = &hardening[i];

		if ((set & ITEM(h->item)) == 0 || h->item == KEYGEN_ALLOWED_ALONE)
			continue;
		if (h->item == KEYGEN_ALLOWED_MECHANISMS)
			add_allowed(t, k, set);
		else if (h->public)
			add(t->pub, &t->npub, h->type, &no, sizeof(no));
		else
			add(t->priv, &t->npriv, h->type, &no, sizeof(no));
	}
}

/*
 * template_refused - could the token's answer be about the template?
 * Attribute errors; and CKR_GENERAL_ERROR or CKR_FUNCTION_FAILED, which
 * TPMs and NSS give for an attribute they will not take.  Never a PIN,
 * session, login, device, memory, mechanism or key size error.
 */
static int
template_refused(CK_RV rv)
{
	switch (rv) {
	case CKR_ATTRIBUTE_TYPE_INVALID:
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_ATTRIBUTE_READ_ONLY:
	case CKR_TEMPLATE_INCONSISTENT:
	case CKR_DOMAIN_PARAMS_INVALID:
	case CKR_CURVE_NOT_SUPPORTED:
	case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED:
		return 1;
	default:
		return 0;
	}
}

/*
 * ambiguous - an answer that may be about the template, or a token that
 * failed (its store gone, a device fault): whether to try again is then
 * the answer's own
 */
static int
ambiguous(CK_RV rv)
{
	return rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED;
}

/*
 * Keys that failed the sign check and that the module would not destroy:
 * tpm2-pkcs11 1.9 marks a key busy when C_SignInit refuses it, and keeps
 * it so until C_Finalize.  They are destroyed after the search, once the
 * module is initialized again.
 */
#define HELD_MAX	8

/* The state of one generation: the session, and the key kept so far. */
struct gen {
	struct token *t;
	CK_SESSION_HANDLE s;
	struct keyspec *k;
	int	 have;			/* pub and priv hold a key made */
	CK_OBJECT_HANDLE pub, priv;
	unsigned probes;		/* keys made, then destroyed again */
	CK_RV	 destroy_rv;		/* a probe key that would not go */
	unsigned char kept_id[KEY_ID_LEN];	/* the CKA_ID of the kept key */
	unsigned char held[HELD_MAX][KEY_ID_LEN];	/* keys the module holds */
	size_t	 nheld;
};

/* destroy_pair - the private, then the public half of a key made */
static CK_RV
destroy_pair(struct gen *g, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv)
{
	CK_RV	 rv = g->t->fn->C_DestroyObject(g->s, priv);
	CK_RV	 rv2 = g->t->fn->C_DestroyObject(g->s, pub);

	return rv != CKR_OK ? rv : rv2;
}

/*
 * sign_refused - a new key's signature refused for what the key is: the
 * template made a key that cannot do its one job
 */
static int
sign_refused(CK_RV rv)
{
	return rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID ||
	    rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
	    rv == CKR_KEY_TYPE_INCONSISTENT;
}

/* sign_check - can the new key sign with our mechanism?  Its answer */
static CK_RV
sign_check(struct gen *g, CK_OBJECT_HANDLE priv)
{
	CK_MECHANISM mech = { g->k->allowed, NULL, 0 };
	CK_BYTE	 sig[P11_SIG_MAX];
	CK_ULONG siglen = sizeof(sig);
	size_t	 off = g->k->type == P11_KEY_RSA ? 0 : sizeof(check_data) - 32;
	CK_RV	 rv;

	if ((rv = g->t->fn->C_SignInit(g->s, &mech, priv)) != CKR_OK)
		return rv;
	return g->t->fn->C_Sign(g->s, (CK_BYTE *)(uintptr_t)check_data + off,
	    sizeof(check_data) - off, sig, &siglen);
}

/* unsigning - a key made that will not sign goes again; the answer */
static enum keygen_answer
unsigning(struct gen *g, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
    CK_RV *rv)
{
	CK_RV	 drv;

	g->probes++;
	if ((drv = destroy_pair(g, pub, priv)) != CKR_OK) {
		if (g->nheld == HELD_MAX) {
			g->destroy_rv = *rv = drv;
			return KEYGEN_FAILED;
		}
		memcpy(g->held[g->nheld++], g->k->id, KEY_ID_LEN);
	}
	return sign_refused(*rv) ? KEYGEN_REFUSED : KEYGEN_FAILED;
}

/*
 * module_generate_pair - C_GenerateKeyPair with template t, alone in its
 * frame: SoftHSM2 leaks what it decoded when the generation fails with
 * its token folder gone, and tests/lsan.supp names this function
 */
static CK_RV
module_generate_pair(struct gen *g, struct tmpl *t, CK_OBJECT_HANDLE *pub,
    CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM mech = { g->k->type == P11_KEY_RSA ?
	    CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0 };

	return g->t->fn->C_GenerateKeyPair(g->s, &mech, t->pub, t->npub,
	    t->priv, t->npriv, pub, priv);
}

/* attempt - C_GenerateKeyPair with a set; keygen_search's callback */
static enum keygen_answer
attempt(void *ctx, unsigned set, CK_RV *rv)
{
	struct gen *g = ctx;
	struct tmpl t;
	CK_OBJECT_HANDLE pub, priv;

	g->k->id[KEY_ID_LEN - 1]++;	/* never the kept key's CKA_ID */
	build(&t, g->k, set);
	*rv = module_generate_pair(g, &t, &pub, &priv);
	if (*rv != CKR_OK)
		return template_refused(*rv) ? KEYGEN_REFUSED : KEYGEN_FAILED;
	if ((*rv = sign_check(g, priv)) != CKR_OK)
		return unsigning(g, pub, priv, rv);
	if (g->have) {
		g->probes++;
		if ((g->destroy_rv = destroy_pair(g, g->pub, g->priv)) !=
		    CKR_OK) {
			(void)destroy_pair(g, pub, priv);
			g->have = 0;
			*rv = g->destroy_rv;
			return KEYGEN_FAILED;
		}
	}
	g->have = 1;
	g->pub = pub;
	g->priv = priv;
	memcpy(g->kept_id, g->k->id, KEY_ID_LEN);
	return KEYGEN_MADE;
}

/* search - run keygen_search over the items the flags let it move */
static int
search(struct gen *g, unsigned flags, struct keygen_search_result *sr)
{
	unsigned order[KEYGEN_ATTRS + 1], all = HARDENING_ALL;
	size_t	 n = 0;

	if (g->k->type == P11_KEY_ED25519) {
		all = (all & ~ITEM(KEYGEN_ALLOWED_ALONE)) | ITEM(ITEM_EC_OID);
		order[n++] = ITEM_EC_OID;
	}
	for (unsigned i = 0; !(flags & KEYGEN_STRICT) && i < KEYGEN_ATTRS; i++)
		if (all & ITEM(i))
			order[n++] = i;
	return keygen_search(all, order, n, attempt, g, sr);
}

/* search_failed - why no key was made, with context */
static int
search_failed(struct gen *g, int rc, unsigned flags,
    const struct keygen_search_result *sr, struct p11_err *err)
{
	const char *kind = g->k->type == P11_KEY_RSA ? "RSA" : "Ed25519";
	const char *label = g->t->info.label;

	if (g->destroy_rv != CKR_OK)
		return p11_err_rv(err, sr->rv, "C_DestroyObject of a key made "
		    "while searching for the template token '%s' takes (a key "
		    "labelled '%s' may be left on it)", label, g->k->label);
	if (rc == 1 && !template_refused(sr->rv))
		p11_err_rv(err, sr->rv, "C_SignInit/C_Sign (%s) on token '%s' "
		    "with a key made from the %s template", kind, label,
		    (flags & KEYGEN_STRICT) ? "full (--strict)" : "essential");
	else if (rc == 1 && (flags & KEYGEN_STRICT))
		p11_err_rv(err, sr->rv, "C_GenerateKeyPair (%s) on token '%s' "
		    "refused the full template, and --strict drops no "
		    "hardening attribute", kind, label);
	else if (rc == 1 && ambiguous(sr->rv) && !(flags & KEYGEN_STRICT))
		p11_err_rv(err, sr->rv, "C_GenerateKeyPair (%s) on token '%s' "
		    "failed with every template, the essential one too: not "
		    "an attribute it refuses, the token itself failed", kind,
		    label);
	else if (rc == 1)
		p11_err_rv(err, sr->rv, "C_GenerateKeyPair (%s) on token '%s' "
		    "refused even the essential template", kind, label);
	if (rc == 1) {
		if (!ambiguous(sr->rv) || (flags & KEYGEN_STRICT))
			err->temporary = 0;	/* the same template, the same
						   answer */
		return -1;
	}
	return p11_err_rv(err, sr->rv, "C_GenerateKeyPair (%s) on token '%s'",
	    kind, label);
}

/* generate - the search, its outcome in res; on failure no key is left */
static int
generate(struct gen *g, unsigned flags, struct keygen_result *res,
    struct p11_err *err)
{
	struct keygen_search_result sr;
	int	 rc = search(g, flags, &sr);

	res->attempts = sr.attempts;
	res->probes = g->probes;
	if (rc != 0) {
		if (g->have)
			(void)destroy_pair(g, g->pub, g->priv);
		return search_failed(g, rc, flags, &sr, err);
	}
	res->dropped = sr.dropped & HARDENING_ALL;
	for (size_t i = 0; i < KEYGEN_ATTRS; i++) {
		res->why[i] = sr.why[i];
		if ((res->dropped & ITEM(i)) && !template_refused(sr.why[i]))
			res->unsigned_keys |= ITEM(i);
	}
	if (g->k->type == P11_KEY_ED25519 && !(sr.kept & ITEM(ITEM_EC_OID))) {
		res->ec_params_printable = 1;
		res->ec_params_why = sr.why[ITEM_EC_OID];
	}
	return 0;
}

/* destroy_by_id - every object with this CKA_ID (and our label) */
static int
destroy_by_id(struct gen *g, const unsigned char *id, struct p11_err *err)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_ID, (void *)(uintptr_t)id, KEY_ID_LEN },
		{ CKA_LABEL, (void *)(uintptr_t)g->k->label,
		    strlen(g->k->label) },
	};
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n;
	CK_RV	 rv;

	if (p11_find_objects(g->t, g->s, tmpl, 2, found, 4, &n, err) < 0)
		return -1;
	for (CK_ULONG i = 0; i < n; i++)
		if ((rv = g->t->fn->C_DestroyObject(g->s, found[i])) != CKR_OK)
			return p11_err_rv(err, rv, "C_DestroyObject of a key "
			    "made while searching, after re-initializing the "
			    "module, on token '%s' (a key labelled '%s' is "
			    "left on it)", g->t->info.label, g->k->label);
	return 0;
}

/*
 * release_held - initialize the module again (which closes every session
 * of this process), then destroy the keys it held; with made, the key
 * made too when that fails: nothing is left half-done.
 */
static int
release_held(struct gen *g, int made, struct keygen_result *res,
    struct p11_err *err)
{
	struct p11_module *m = g->t->mod;
	int	 rc;

	if (p11_module_reinit(m, p11_module_generation(m), err) < 0)
		return -1;
	res->module_reinit = 1;
	p11_module_enter(m);
	if ((rc = rw_session(g->t, &g->s, err)) == 0) {
		for (size_t i = 0; rc == 0 && i < g->nheld; i++)
			rc = destroy_by_id(g, g->held[i], err);
		if (rc < 0 && made)
			(void)destroy_by_id(g, g->kept_id, NULL);
		(void)g->t->fn->C_CloseSession(g->s);
	}
	p11_module_leave(m);
	return rc;
}

/* keygen_generate - a new key pair labelled label, born on the token */
int
keygen_generate(struct token *t, enum p11_key_type type, unsigned bits,
    const char *label, unsigned flags, struct keygen_result *res,
    struct p11_err *err)
{
	struct keyspec k = { type, bits, label, { 0 }, type == P11_KEY_RSA ?
	    CKM_RSA_PKCS : CKM_EDDSA };
	struct gen g;
	CK_OBJECT_HANDLE found[1];
	CK_ULONG n;
	int	 rc = -1;

	memset(res, 0, sizeof(*res));
	if (type == P11_KEY_RSA && bits != 2048 && bits != 3072 && bits != 4096)
		return p11_err_set(err, 0, CKR_OK, "RSA keys are 2048, 3072 "
		    "or 4096 bits, not %u", bits);
	if (RAND_bytes(k.id, sizeof(k.id)) != 1)
		return p11_err_set(err, 1, CKR_OK, "no random bytes for "
		    "CKA_ID");
	memset(&g, 0, sizeof(g));
	g.t = t;
	g.k = &k;
	p11_module_enter(t->mod);
	if (rw_session(t, &g.s, err) < 0)
		goto out_module;
	if (label_count(t, g.s, label, found, 1, &n, err) < 0)
		goto out;
	if (n > 0) {
		p11_err_set(err, 0, CKR_OK, "token '%s' already has a key "
		    "labelled '%s': refusing to overwrite it", t->info.label,
		    label);
		goto out;
	}
	rc = generate(&g, flags, res, err);
out:
	(void)t->fn->C_CloseSession(g.s);
out_module:
	p11_module_leave(t->mod);
	if (g.nheld > 0 && release_held(&g, rc == 0, res, err) < 0)
		rc = -1;
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
