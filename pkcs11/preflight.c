/*
 * preflight.c - the signer's checks that need no DNS, for p11dkimd -n and
 * p11dkim-keys preflight (see include/p11dkim/preflight.h).
 *
 * Security notes: the PIN is read through the same PIN source as the
 * signer's (a file readable by group or others is refused) and wiped
 * after the login, inside token_open().  A descriptor PIN source is not
 * read: it can be read only once, and that once is the daemon's.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rsa.h>

#include "p11dkim/preflight.h"
#include "p11dkim/token_store.h"

static const unsigned char self_test[32] = {
	'p', '1', '1', 'd', 'k', 'i', 'm', ' ', 'p', 'r', 'e', 'f', 'l', 'i',
	'g', 'h', 't'
};

/* preflight_status_name - "ok", "warn", "skip", "fail", "unreachable" */
const char *
preflight_status_name(enum preflight_status st)
{
	static const char *const names[] = { "ok", "warn", "skip", "fail",
	    "unreachable" };

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] :
	    "?";
}

/* preflight_digest - the fixed digest the checks sign */
const unsigned char *
preflight_digest(void)
{
	return self_test;
}

/* preflight_say - report one result, counting failures */
void
preflight_say(struct preflight *pf, const char *name, const char *check,
    enum preflight_status st, const char *fmt, ...)
{
	char	 detail[PREFLIGHT_DETAIL_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	if (vsnprintf(detail, sizeof(detail), fmt, ap) < 0)
		detail[0] = '\0';
	va_end(ap);
	if (st == PREFLIGHT_FAIL)
		pf->failed++;
	pf->report(pf->ctx, name, check, st, detail);
}

#define say(pf, t, check, st, ...) \
	preflight_say(pf, (t)->name, check, st, __VA_ARGS__)

/* store_origin - which SoftHSM2 configuration this process reads */
static void
store_origin(char *out, size_t len)
{
	struct token_store s;
	struct p11_err err;

	if (token_store_locate(&s, &err) < 0)
		snprintf(out, len, "; %s", err.msg);
	else
		snprintf(out, len, "; SoftHSM2 configuration %s (from %s), "
		    "tokens in %s", s.conf, s.conf_from, s.tokendir);
}

/* check_module - the module loads (once) */
static int
check_module(struct preflight *pf, const char *path,
    const struct preflight_target *t)
{
	struct token_store_who w;
	struct p11_err err;
	char	 origin[3 * TOKEN_STORE_PATH_MAX];

	if (pf->mod == NULL && pf->mod_error[0] == '\0' &&
	    (pf->mod = p11_module_load(path, &err)) == NULL)
		snprintf(pf->mod_error, sizeof(pf->mod_error), "%s", err.msg);
	if (pf->mod == NULL) {
		say(pf, t, "module", PREFLIGHT_FAIL, "%s", pf->mod_error);
		return -1;
	}
	token_store_who_self(&w);
	origin[0] = '\0';
	if (token_store_is_softhsm2(pf->mod))
		store_origin(origin, sizeof(origin));
	say(pf, t, "module", PREFLIGHT_OK, "%s loaded as uid %lu (%s)%s",
	    path, (unsigned long)w.uid, w.name, origin);
	return 0;
}

/* check_pin - the PIN source the signer will read; NULL when unusable */
static struct pin_source *
check_pin(struct preflight *pf, const struct preflight_target *t)
{
	struct pin_source *pin;
	struct p11_err err;
	char	 what[128];

	if (strcmp(t->pin, "prompt") == 0) {
		say(pf, t, "pin", PREFLIGHT_FAIL, "prompt: the daemon has no "
		    "terminal to ask on; use file:/PATH");
		return NULL;
	}
	if (strncmp(t->pin, "fd:", 3) == 0) {
		say(pf, t, "pin", PREFLIGHT_WARN, "%s is read once, by the "
		    "first signer (not here): reloads and signer restarts "
		    "will fail; use file:/PATH", t->pin);
		return NULL;
	}
	snprintf(what, sizeof(what), "user PIN of %s", t->name);
	if ((pin = pin_source_parse(t->pin, what, &err)) == NULL)
		say(pf, t, "pin", PREFLIGHT_FAIL, "%s", err.msg);
	else
		say(pf, t, "pin", PREFLIGHT_OK, "%s readable and private to "
		    "its owner", t->pin);
	return pin;
}

/* with_hint - err's message, and the token store's view of why */
static void
with_hint(struct preflight *pf, const char *serial, const char *msg,
    char *out, size_t len)
{
	char	 hint[PREFLIGHT_DETAIL_MAX];
	int	 rc = token_store_hint(pf->mod, serial, hint, sizeof(hint));

	if (snprintf(out, len, rc == TOKEN_STORE_VENDOR || rc == 0 ? "%s" :
	    "%s: %s", msg, hint) < 0)
		out[0] = '\0';
}

/* check_token - found by label (and serial) and logged in to */
static int
check_token(struct preflight *pf, const struct preflight_target *t,
    struct pin_source *pin)
{
	const struct p11_token_info *ti;
	struct p11_err err;
	char	 msg[PREFLIGHT_DETAIL_MAX];

	pf->tok = token_open(pf->mod, t->token_label, t->token_serial, pin, 1,
	    &err);
	if (pf->tok == NULL) {
		if (err.rv == CKR_TOKEN_NOT_PRESENT)
			with_hint(pf, t->token_serial, err.msg, msg,
			    sizeof(msg));
		else
			snprintf(msg, sizeof(msg), "%s", err.msg);
		say(pf, t, "token", PREFLIGHT_FAIL, "%s", msg);
		return -1;
	}
	ti = token_info(pf->tok);
	say(pf, t, "token", PREFLIGHT_OK, "'%s' serial %s, slot %lu: logged "
	    "in", ti->label, ti->serial, (unsigned long)ti->slot);
	return 0;
}

/*
 * check_store - the token's folder and files are this user's to use.  A
 * file it cannot read is a warning: the keys checked next may be fine,
 * but a key made by another user (a standby key, say) is invisible.
 */
static void
check_store(struct preflight *pf, const struct preflight_target *t)
{
	char	 hint[PREFLIGHT_DETAIL_MAX];
	int	 rc = token_store_hint(pf->mod, token_info(pf->tok)->serial,
	    hint, sizeof(hint));

	if (rc == TOKEN_STORE_VENDOR)
		say(pf, t, "store", PREFLIGHT_SKIP, "a vendor module: its "
		    "store cannot be checked from here");
	else if (rc != 0)	/* the token opened: keys may still be there */
		say(pf, t, "store", PREFLIGHT_WARN, "%s", hint);
	else
		say(pf, t, "store", PREFLIGHT_OK, "the token's folder and "
		    "every file in it are readable and writable by this user");
}

/* check_key - key k is there, of its type, and signs */
static void
check_key(struct preflight *pf, const struct preflight_target *t, size_t k)
{
	unsigned char sig[P11_SIG_MAX];
	size_t	 len = sizeof(sig);
	struct p11_key *key;
	struct p11_err err;
	char	 msg[PREFLIGHT_DETAIL_MAX];

	if ((key = token_key(pf->tok, t->key_label[k], &err)) == NULL) {
		with_hint(pf, token_info(pf->tok)->serial, err.msg, msg,
		    sizeof(msg));
		say(pf, t, "key", PREFLIGHT_FAIL, "%s", msg);
		say(pf, t, "sign", PREFLIGHT_SKIP, "%s: no key",
		    t->key_label[k]);
		return;
	}
	if (p11_key_type(key) != t->key_type[k]) {
		say(pf, t, "key", PREFLIGHT_FAIL, "'%s' is %s, the "
		    "institution signs with %s", t->key_label[k],
		    p11_key_type(key) == P11_KEY_RSA ? "RSA" : "Ed25519",
		    t->key_type[k] == P11_KEY_RSA ? "RSA" : "Ed25519");
		say(pf, t, "sign", PREFLIGHT_SKIP, "%s: not the right type",
		    t->key_label[k]);
		return;
	}
	say(pf, t, "key", PREFLIGHT_OK, "'%s': %s, %d bits", t->key_label[k],
	    p11_key_type(key) == P11_KEY_RSA ? "RSA" : "Ed25519",
	    p11_key_bits(key));
	if (p11_key_sign(key, self_test, sig, &len, &err) < 0) {
		say(pf, t, "sign", PREFLIGHT_FAIL, "%s", err.msg);
		return;
	}
	pf->key[k] = key;
	say(pf, t, "sign", PREFLIGHT_OK, "'%s': a test signature verifies "
	    "with the token's public key", t->key_label[k]);
}

/* preflight_check - every check for one target */
int
preflight_check(struct preflight *pf, const char *module_path,
    const struct preflight_target *t)
{
	unsigned before = pf->failed;
	struct pin_source *pin;

	pf->tok = token_close(pf->tok);
	memset(pf->key, 0, sizeof(pf->key));
	if (check_module(pf, module_path, t) < 0)
		return (int)(pf->failed - before);
	if ((pin = check_pin(pf, t)) == NULL ||
	    check_token(pf, t, pin) < 0)	/* pin is the token's now */
		return (int)(pf->failed - before);
	check_store(pf, t);
	for (size_t k = 0; k < t->nkeys && k < PREFLIGHT_KEYS_MAX; k++)
		check_key(pf, t, k);
	return (int)(pf->failed - before);
}

/* preflight_become - the signer's user, when root and user is set */
int
preflight_become(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;
	char	*end;
	long	 uid;

	if (user == NULL || getuid() != 0)
		return 0;
	uid = strtol(user, &end, 10);
	pw = *user != '\0' && *end == '\0' && uid >= 0 ?
	    getpwuid((uid_t)uid) : getpwnam(user);
	if (pw == NULL)
		return snprintf(err, errlen, "no user %s", user), -1;
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		return snprintf(err, errlen, "cannot become %s: %s", user,
		    strerror(errno)), -1;
	return 0;
}

/* preflight_verify - does sig verify over the digest with pub? */
int
preflight_verify(EVP_PKEY *pub, const unsigned char digest[32],
    const unsigned char *sig, size_t siglen)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *md = NULL;
	int	 ok;

	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_ED25519)
		ok = (md = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
		    EVP_DigestVerify(md, sig, siglen, digest, 32) == 1;
	else
		ok = (pctx = EVP_PKEY_CTX_new(pub, NULL)) != NULL &&
		    EVP_PKEY_verify_init(pctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) ==
		    1 &&
		    EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(pctx, sig, siglen, digest, 32) == 1;
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(md);
	return ok;
}

/* preflight_release - close the token, unload the module */
void
preflight_release(struct preflight *pf)
{
	pf->tok = token_close(pf->tok);
	memset(pf->key, 0, sizeof(pf->key));
	pf->mod = p11_module_free(pf->mod);
}
