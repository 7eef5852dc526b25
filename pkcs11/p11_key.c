/*
 * p11_key.c - signing keys on a token: found by label, public half read
 * from the token, signatures made and checked (see include/p11dkim/token.h).
 *
 * Security: the token is asked to sign only SHA-256 DigestInfos (RSA) or
 * 32-byte digests (Ed25519) built here, never caller-chosen data of
 * another shape.  A signature that does not verify with the public key
 * is never returned.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "token_int.h"

#define SIGN_ATTEMPTS	5
#define BAD_SIGNATURES_MAX	3	/* a request gives up at the third */

/* RFC 8017 9.2 note 1: DER of DigestInfo for SHA-256, before the hash. */
static const unsigned char sha256_digestinfo[19] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
};

/* p11_find_objects - handles of objects matching a template (max n) */
int
p11_find_objects(struct token *t, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
    CK_ULONG count, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found,
    struct p11_err *err)
{
	CK_RV	 rv;

	*found = 0;
	if ((rv = t->fn->C_FindObjectsInit(s, tmpl, count)) != CKR_OK)
		return p11_err_rv(err, rv, "C_FindObjectsInit on token '%s'",
		    t->info.label);
	rv = t->fn->C_FindObjects(s, out, max, found);
	(void)t->fn->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return p11_err_rv(err, rv, "C_FindObjects on token '%s'",
		    t->info.label);
	return 0;
}

/* get_attr - one attribute of variable length, into buf */
static int
get_attr(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG *len, struct p11_err *err)
{
	CK_ATTRIBUTE a = { type, buf, *len };
	CK_RV	 rv;

	if ((rv = t->fn->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK)
		return p11_err_rv(err, rv, "C_GetAttributeValue(0x%lx) on "
		    "token '%s'", (unsigned long)type, t->info.label);
	*len = a.ulValueLen;
	return 0;
}

/* rsa_public - an RSA public key from CKA_MODULUS and CKA_PUBLIC_EXPONENT */
static EVP_PKEY *
rsa_public(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    struct p11_err *err)
{
	unsigned char n[1024], e[16];
	CK_ULONG nlen = sizeof(n), elen = sizeof(e);
	BIGNUM	*bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (get_attr(t, s, o, CKA_MODULUS, n, &nlen, err) < 0 ||
	    get_attr(t, s, o, CKA_PUBLIC_EXPONENT, e, &elen, err) < 0)
		return NULL;
	if ((bn = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
	    (be = BN_bin2bn(e, (int)elen, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		p11_err_set(err, 0, CKR_OK, "token '%s': bad RSA public key",
		    t->info.label);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pkey;
}

/*
 * ed25519_public - an Ed25519 public key from CKA_EC_POINT: the raw 32
 * bytes, or (SoftHSM2 and others) a DER OCTET STRING around them.
 */
static EVP_PKEY *
ed25519_public(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    struct p11_err *err)
{
	unsigned char point[64];
	CK_ULONG len = sizeof(point);
	const unsigned char *raw = point;
	EVP_PKEY *pkey;

	if (get_attr(t, s, o, CKA_EC_POINT, point, &len, err) < 0)
		return NULL;
	if (len == 34 && point[0] == 0x04 && point[1] == 0x20)
		raw += 2;
	else if (len != 32) {
		p11_err_set(err, 0, CKR_OK, "token '%s': Ed25519 CKA_EC_POINT "
		    "of %lu bytes", t->info.label, (unsigned long)len);
		return NULL;
	}
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	if (pkey == NULL)
		p11_err_set(err, 0, CKR_OK, "token '%s': bad Ed25519 public "
		    "key", t->info.label);
	return pkey;
}

/* p11_public_key - the EVP_PKEY of a public key object */
EVP_PKEY *
p11_public_key(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    enum p11_key_type type, struct p11_err *err)
{
	return type == P11_KEY_RSA ? rsa_public(t, s, o, err) :
	    ed25519_public(t, s, o, err);
}

/* key_type_of - our key type from CKA_KEY_TYPE; -1 for others */
static int
key_type_of(CK_KEY_TYPE kt)
{
	if (kt == CKK_RSA)
		return P11_KEY_RSA;
	if (kt == CKK_EC_EDWARDS)
		return P11_KEY_ED25519;
	return -1;
}

/* find_private - the one private key object labelled label */
static int
find_private(struct token *t, CK_SESSION_HANDLE s, const char *label,
    CK_OBJECT_HANDLE *o, struct p11_err *err)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n;

	if (p11_find_objects(t, s, tmpl, 2, found, 2, &n, err) < 0)
		return -1;
	if (n != 1) {
		p11_err_set(err, 0, CKR_OK, "token '%s': %s private key "
		    "labelled '%s'", t->info.label, n ? "more than one" : "no",
		    label);
		err->absent = n == 0;
		return -1;
	}
	*o = found[0];
	return 0;
}

/* find_public - the public key object with the private key's CKA_ID */
static int
find_public(struct token *t, CK_SESSION_HANDLE s, const struct p11_key *k,
    CK_OBJECT_HANDLE *o, struct p11_err *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)(uintptr_t)k->id, k->id_len },
	};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n;

	if (p11_find_objects(t, s, tmpl, 2, found, 2, &n, err) < 0)
		return -1;
	if (n != 1)
		return p11_err_set(err, 0, CKR_OK, "token '%s': key '%s' has "
		    "%s public key object", t->info.label, k->label,
		    n ? "more than one" : "no");
	*o = found[0];
	return 0;
}

/* describe - read type, id, public half and size of key k (handle o) */
static int
describe(struct token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    struct p11_key *k, struct p11_err *err)
{
	CK_KEY_TYPE kt;
	CK_ULONG len = sizeof(kt), idlen = sizeof(k->id);
	CK_OBJECT_HANDLE pubo = CK_INVALID_HANDLE;
	int	 type;

	if (get_attr(t, s, o, CKA_KEY_TYPE, &kt, &len, err) < 0 ||
	    get_attr(t, s, o, CKA_ID, k->id, &idlen, err) < 0)
		return -1;
	if ((type = key_type_of(kt)) < 0)
		return p11_err_set(err, 0, CKR_KEY_TYPE_INCONSISTENT, "token "
		    "'%s': key '%s' is neither RSA nor Ed25519", t->info.label,
		    k->label);
	k->type = (enum p11_key_type)type;
	k->id_len = idlen;
	if (find_public(t, s, k, &pubo, err) < 0 ||
	    (k->pub = p11_public_key(t, s, pubo, k->type, err)) == NULL)
		return -1;
	k->bits = EVP_PKEY_get_bits(k->pub);
	k->priv = o;
	return 0;
}

/* token_key - the signing key labelled label, public half included */
struct p11_key *
token_key(struct token *t, const char *label, struct p11_err *err)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE o;
	struct p11_key *k;
	unsigned long epoch;
	int	 rc;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		p11_err_set(err, 1, CKR_HOST_MEMORY, "out of memory");
		return NULL;
	}
	k->tok = t;
	snprintf(k->label, sizeof(k->label), "%s", label);
	p11_module_enter(t->mod);
	rc = token_session_get(t, &s, &epoch, err);
	if (rc == 0) {
		rc = find_private(t, s, label, &o, err);
		if (rc == 0)
			rc = describe(t, s, o, k, err);
		token_session_put(t, s, 1);
	}
	p11_module_leave(t->mod);
	if (rc < 0) {
		EVP_PKEY_free(k->pub);
		free(k);
		token_recover_module(t, err);
		return NULL;
	}
	k->epoch = epoch;
	pthread_mutex_lock(&t->mu);
	k->next = t->keys;
	t->keys = k;
	pthread_mutex_unlock(&t->mu);
	return k;
}

/* p11_key_find_handle - the private key's handle for the session's epoch */
int
p11_key_find_handle(struct p11_key *k, CK_SESSION_HANDLE s,
    unsigned long epoch, CK_OBJECT_HANDLE *o, struct p11_err *err)
{
	struct token *t = k->tok;
	CK_OBJECT_HANDLE found;
	int	 rc = 0;

	pthread_mutex_lock(&t->mu);
	if (k->epoch == epoch) {
		*o = k->priv;
		pthread_mutex_unlock(&t->mu);
		return 0;
	}
	pthread_mutex_unlock(&t->mu);
	/* After a re-login: the key, found again by label. */
	if (find_private(t, s, k->label, &found, err) < 0) {
		err->temporary = 1;	/* it was there: the store is away */
		return -1;
	}
	pthread_mutex_lock(&t->mu);
	if (epoch == t->epoch) {
		k->priv = found;
		k->epoch = epoch;
	}
	pthread_mutex_unlock(&t->mu);
	*o = found;
	return rc;
}

/* p11_key_type - RSA or Ed25519 */
enum p11_key_type
p11_key_type(const struct p11_key *k)
{
	return k->type;
}

/* p11_key_bits - the key size in bits (255 for Ed25519) */
int
p11_key_bits(const struct p11_key *k)
{
	return k->bits;
}

/* p11_key_public - the public key (owned by the key) */
EVP_PKEY *
p11_key_public(const struct p11_key *k)
{
	return k->pub;
}

/* p11_key_label - the CKA_LABEL */
const char *
p11_key_label(const struct p11_key *k)
{
	return k->label;
}

/* verify - does sig verify over the digest with the key's public half? */
static int
verify(const struct p11_key *k, const unsigned char digest[32],
    const unsigned char *sig, size_t siglen)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *md = NULL;
	int	 ok;

	if (k->type == P11_KEY_RSA) {
		ok = (pctx = EVP_PKEY_CTX_new(k->pub, NULL)) != NULL &&
		    EVP_PKEY_verify_init(pctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(pctx, sig, siglen, digest, 32) == 1;
	} else {
		ok = (md = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pub) == 1 &&
		    EVP_DigestVerify(md, sig, siglen, digest, 32) == 1;
	}
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(md);
	return ok;
}

/* sign_once - one C_SignInit + C_Sign on a session; returns the CK_RV */
static CK_RV
sign_once(struct p11_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    const unsigned char digest[32], unsigned char *sig, CK_ULONG *siglen)
{
	CK_MECHANISM mech = { k->type == P11_KEY_RSA ? CKM_RSA_PKCS :
	    CKM_EDDSA, NULL, 0 };
	unsigned char data[sizeof(sha256_digestinfo) + 32];
	CK_ULONG len = 32;
	CK_RV	 rv;

	if (k->type == P11_KEY_RSA) {
		memcpy(data, sha256_digestinfo, sizeof(sha256_digestinfo));
		memcpy(data + sizeof(sha256_digestinfo), digest, 32);
		len = sizeof(data);
	} else {
		memcpy(data, digest, 32);
	}
	if ((rv = k->tok->fn->C_SignInit(s, &mech, o)) != CKR_OK)
		return rv;
	return k->tok->fn->C_Sign(s, data, len, sig, siglen);
}

/* A request's way through its attempts. */
struct try {
	unsigned long gen;		/* module generation at the start */
	unsigned device;		/* device errors so far */
	struct p11_sign_report *rep;
};

/*
 * on_session - sign on one session of the pool; the session goes back,
 * closed unless it is sound.  0 signed and verified, -1 failed (err), -2
 * the signature did not verify (err).
 */
static int
on_session(struct p11_key *k, const unsigned char digest[32],
    unsigned char *sig, size_t *siglen, struct try *tr, struct p11_err *err)
{
	struct token *t = k->tok;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE o;
	CK_ULONG len = *siglen;
	unsigned long epoch;
	CK_RV	 rv = CKR_OK;
	int	 rc, sound;

	if (token_session_get(t, &s, &epoch, err) < 0) {
		tr->rep->attempts++;
		return -1;
	}
	tr->rep->attempts++;
	rc = p11_key_find_handle(k, s, epoch, &o, err);
	if (rc == 0 && (rv = sign_once(k, s, o, digest, sig, &len)) != CKR_OK)
		rc = p11_err_rv(err, rv, "signing with key '%s' on token '%s'",
		    k->label, t->info.label);
	if (rc == 0 && !verify(k, digest, sig, len)) {
		tr->rep->bad_signatures++;
		rc = p11_err_set(err, 1, CKR_FUNCTION_FAILED, "key '%s' on token "
		    "'%s': the token returned a signature that does not "
		    "verify; not used", k->label, t->info.label);
		rv = CKR_FUNCTION_FAILED;
	}
	sound = rc == 0 || (rv != CKR_OK && rv != CKR_FUNCTION_FAILED &&
	    p11_rv_class(rv) == P11_CLASS_PERMANENT);
	token_session_put(t, s, sound);
	if (rc == 0)
		*siglen = len;
	return rc < 0 && rv == CKR_FUNCTION_FAILED ? -2 : rc;
}

/*
 * recover - what a failed attempt calls for: 1 to try again, 0 to give
 * up.  A session error or a device error drops that session (done) and
 * tries another; a handle error or a second device error logs in again;
 * a third, or a module that is not initialized, re-initializes the module
 * if it is broken (p11_module_broken) and gives up (the next request finds
 * it working), else goes on while the attempts last.  A bad signature
 * is made again on another session (a third gives up).
 */
static int
recover(struct p11_key *k, struct try *tr, unsigned long epoch, int rc,
    const struct p11_err *err)
{
	struct token *t = k->tok;
	enum p11_class cls = p11_rv_class(err->rv);
	struct p11_err ignored;

	if (rc == -2)			/* again, on another session */
		return tr->rep->bad_signatures < BAD_SIGNATURES_MAX;
	if (!err->temporary && cls != P11_CLASS_DEVICE)
		return 0;
	if (err->rv == CKR_SESSION_COUNT || (err->rv == CKR_FUNCTION_FAILED &&
	    strstr(err->msg, "not answering") != NULL))
		return 0;		/* busy or hung: waiting will not do */
	if (cls == P11_CLASS_SESSION) {
		token_check_anchor(t, epoch);
		return 1;
	}
	if (cls == P11_CLASS_LOGIN || cls == P11_CLASS_OK) {
		token_mark_down(t, epoch);
		return 1;
	}
	if (cls != P11_CLASS_DEVICE)
		return 0;
	if (++tr->device == 2)
		token_mark_down(t, epoch);
	if (tr->device < 3 && err->rv != CKR_CRYPTOKI_NOT_INITIALIZED)
		return 1;
	if (!p11_module_broken(t->mod, t->info.slot))
		return 1;	/* the token's trouble: on, while attempts last */
	if (p11_module_reinit(t->mod, tr->gen, &ignored) == 0) {
		tr->rep->module_reinit = 1;
		pthread_mutex_lock(&t->mu);
		t->stats.recoveries++;
		pthread_mutex_unlock(&t->mu);
		return err->rv == CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return 0;
}

/* count - add to the token's counters */
static void
count(struct token *t, int ok, const struct p11_sign_report *rep)
{
	pthread_mutex_lock(&t->mu);
	if (ok)
		t->stats.signs++;
	else
		t->stats.errors++;
	t->stats.verify_failures += rep->bad_signatures;
	t->stats.retries += rep->attempts > 0 ? rep->attempts - 1 : 0;
	pthread_mutex_unlock(&t->mu);
}

/* p11_key_sign_report - sign, verified, saying what it went through */
int
p11_key_sign_report(struct p11_key *k, const unsigned char digest[32],
    unsigned char *sig, size_t *siglen, struct p11_sign_report *rep,
    struct p11_err *err)
{
	struct p11_sign_report mine;
	struct try tr = { p11_module_generation(k->tok->mod), 0, rep ? rep :
	    &mine };
	char	 last[P11_ERR_MSG_MAX];
	unsigned long epoch;
	int	 rc = -1, again = 1;

	memset(tr.rep, 0, sizeof(*tr.rep));
	while (again && tr.rep->attempts < SIGN_ATTEMPTS) {
		p11_module_enter(k->tok->mod);
		pthread_mutex_lock(&k->tok->mu);
		epoch = k->tok->epoch;
		pthread_mutex_unlock(&k->tok->mu);
		rc = on_session(k, digest, sig, siglen, &tr, err);
		p11_module_leave(k->tok->mod);
		again = rc < 0 && recover(k, &tr, epoch, rc, err);
	}
	if (rc < 0 && again) {
		snprintf(last, sizeof(last), "%s", err->msg);
		p11_err_set(err, 1, err->rv, "still failing after %u attempts: "
		    "%.250s", tr.rep->attempts, last);
	}
	count(k->tok, rc == 0, tr.rep);
	return rc == 0 ? 0 : -1;
}

/* p11_key_sign - sign a SHA-256 digest, verified before it is returned */
int
p11_key_sign(struct p11_key *k, const unsigned char digest[32],
    unsigned char *sig, size_t *siglen, struct p11_err *err)
{
	return p11_key_sign_report(k, digest, sig, siglen, NULL, err);
}
