/*
 * itest_token.c - the token layer on a real SoftHSM2 token: token set-up,
 * key generation, signing verified by OpenSSL, audit attributes, many
 * threads on two tokens, recovery from lost sessions, and bad input.
 *
 * Run by tests/integration/run.sh, which points SOFTHSM2_CONF at a
 * throw-away token store and sets P11DKIM_TEST_DIR for PIN files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "p11dkim/key_audit.h"
#include "p11dkim/keygen.h"
#include "p11dkim/token.h"
#include "p11dkim/token_admin.h"

#define SO_PIN		"so-secret-1234"
#define USER_PIN	"user-secret-5678"
#define THREADS		4
#define SIGNS		100

static struct p11_module *mod;
static struct token *tok_a, *tok_b;
static char dir[512];

/* module_path - the SoftHSM2 module, or the one the environment names */
static const char *
module_path(void)
{
	const char *m = getenv("P11DKIM_TEST_MODULE");

	return m ? m : "/usr/lib/softhsm/libsofthsm2.so";
}

/* pin_file - write a PIN file with the given mode; returns its path */
static const char *
pin_file(const char *name, const char *pin, mode_t mode)
{
	static char path[600];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", pin);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* init - a fresh token labelled label */
static void
init(const char *label)
{
	struct pin so, user;
	struct p11_token_info ti;
	struct p11_err err;

	memset(&so, 0, sizeof(so));
	memset(&user, 0, sizeof(user));
	so.len = (size_t)snprintf(so.buf, sizeof(so.buf), "%s", SO_PIN);
	user.len = (size_t)snprintf(user.buf, sizeof(user.buf), "%s", USER_PIN);
	if (token_admin_init(mod, -1, label, &so, &user, &ti, &err) < 0)
		fail_msg("init %s: %s", label, err.msg);
	assert_string_equal(ti.label, label);
	assert_true(ti.initialized && ti.user_pin_set);
}

/* open_token - log in to a token with the PIN file */
static struct token *
open_token(const char *label)
{
	struct p11_err err;
	struct pin_source *pin;
	struct token *t;

	pin = pin_source_file(pin_file("user.pin", USER_PIN, 0600), &err);
	assert_non_null(pin);
	t = token_open(mod, label, NULL, pin, 4, &err);
	if (t == NULL)
		fail_msg("open %s: %s", label, err.msg);
	return t;
}

/* setup - load the module once, make two tokens with keys */
static int
setup(void **state)
{
	struct p11_err err;
	struct keygen_result res;
	const char *d = getenv("P11DKIM_TEST_DIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s", d ? d : "/tmp");
	if ((mod = p11_module_load(module_path(), &err)) == NULL)
		fail_msg("%s", err.msg);
	init("alpha");
	init("beta");
	init("gamma");		/* never opened: for the wrong PIN */
	tok_a = open_token("alpha");
	tok_b = open_token("beta");
	if (keygen_generate(tok_a, P11_KEY_RSA, 2048, "alpha-rsa", 0, &res,
	    &err) < 0 || keygen_generate(tok_b, P11_KEY_ED25519, 0,
	    "beta-ed", 0, &res, &err) < 0 || keygen_generate(tok_b,
	    P11_KEY_RSA, 3072, "beta-rsa", 0, &res, &err) < 0)
		fail_msg("keygen: %s", err.msg);
	return 0;
}

/* teardown - close in order: sessions, then the module */
static int
teardown(void **state)
{
	(void)state;
	token_close(tok_a);
	token_close(tok_b);
	p11_module_free(mod);
	return 0;
}

/* independent_verify - OpenSSL, from the exported DER public key */
static int
independent_verify(struct p11_key *k, const unsigned char digest[32],
    const unsigned char *sig, size_t siglen)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int	 len = i2d_PUBKEY(p11_key_public(k), &der), ok;
	EVP_PKEY *pub;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *md = NULL;

	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	if (p11_key_type(k) == P11_KEY_RSA)
		ok = (pctx = EVP_PKEY_CTX_new(pub, NULL)) != NULL &&
		    EVP_PKEY_verify_init(pctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(pctx, sig, siglen, digest, 32) == 1;
	else
		ok = (md = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
		    EVP_DigestVerify(md, sig, siglen, digest, 32) == 1;
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	return ok;
}

/* sign_ok - sign a digest made from n and check it independently */
static void
sign_ok(struct p11_key *k, unsigned n)
{
	unsigned char digest[32], sig[P11_SIG_MAX];
	size_t	 len = sizeof(sig);
	struct p11_err err;

	for (size_t i = 0; i < 32; i++)
		digest[i] = (unsigned char)(n * 31 + i);
	if (p11_key_sign(k, digest, sig, &len, &err) < 0)
		fail_msg("sign with %s: %s", p11_key_label(k), err.msg);
	assert_true(independent_verify(k, digest, sig, len));
}

/* test_sign_each_type - RSA-2048, RSA-3072 and Ed25519 */
static void
test_sign_each_type(void **state)
{
	struct p11_err err;
	struct p11_key *ka = token_key(tok_a, "alpha-rsa", &err);
	struct p11_key *ke = token_key(tok_b, "beta-ed", &err);
	struct p11_key *kr = token_key(tok_b, "beta-rsa", &err);

	(void)state;
	assert_non_null(ka);
	assert_non_null(ke);
	assert_non_null(kr);
	assert_int_equal(p11_key_type(ka), P11_KEY_RSA);
	assert_int_equal(p11_key_bits(ka), 2048);
	assert_int_equal(p11_key_bits(kr), 3072);
	assert_int_equal(p11_key_type(ke), P11_KEY_ED25519);
	sign_ok(ka, 1);
	sign_ok(ke, 2);
	sign_ok(kr, 3);
	assert_null(token_key(tok_a, "no-such-key", &err));
	assert_false(err.temporary);
}

/* test_keygen_refusals - no overwrite, no odd RSA sizes */
static void
test_keygen_refusals(void **state)
{
	struct p11_err err;
	struct keygen_result res;

	(void)state;
	assert_int_equal(keygen_generate(tok_a, P11_KEY_RSA, 2048, "alpha-rsa",
	    0, &res, &err), -1);
	assert_non_null(strstr(err.msg, "refusing to overwrite"));
	assert_int_equal(keygen_generate(tok_a, P11_KEY_RSA, 1024, "weak",
	    0, &res, &err), -1);
	assert_int_equal(keygen_label_exists(tok_a, "weak", &err), 0);
	assert_int_equal(keygen_label_exists(tok_a, "alpha-rsa", &err), 1);
}

/* test_audit - generated keys pass; the token keeps the secret */
static void
test_audit(void **state)
{
	struct key_audit *list;
	struct p11_err err;
	struct buf why;
	size_t	 n;

	(void)state;
	assert_int_equal(key_audit_list(tok_b, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		buf_init(&why, 4096);
		if (key_audit_problems(&list[i], KEY_AUDIT_STRICT, &why) != 0)
			fail_msg("%s: %s", list[i].label, buf_str(&why));
		buf_release(&why);
		assert_int_equal(list[i].secret_readable, 0);
		/* CKA_PRIVATE_EXPONENT (RSA) or CKA_VALUE (Ed25519) */
		assert_int_equal(list[i].secret_rv, CKR_ATTRIBUTE_SENSITIVE);
		assert_int_equal(list[i].attr[KA_LOCAL].state, KA_TRUE);
		assert_int_equal(list[i].attr[KA_EXTRACTABLE].state, KA_FALSE);
		assert_int_equal(list[i].attr[KA_NEVER_EXTRACTABLE].state,
		    KA_TRUE);
		assert_int_equal(list[i].attr[KA_DECRYPT].state, KA_FALSE);
		assert_int_equal(list[i].attr[KA_COPYABLE].state, KA_FALSE);
		assert_int_equal(list[i].attr[KA_PUB_ENCRYPT].state, KA_FALSE);
		/* not asked for: a rotation destroys retired keys */
		assert_int_equal(list[i].attr[KA_DESTROYABLE].state, KA_TRUE);
		assert_int_equal(list[i].attr[KA_ALLOWED_MECHANISMS].state,
		    KA_LISTED);
		assert_int_equal(list[i].nallowed, 1);
		assert_int_equal(list[i].allowed[0], list[i].type ==
		    P11_KEY_RSA ? CKM_RSA_PKCS : CKM_EDDSA);
		for (int a = 0; a < KA_ATTRS; a++)
			assert_int_not_equal(key_audit_verdict(&list[i],
			    (enum key_audit_attr)a, 0), KA_FAIL);
		assert_int_equal(strlen(list[i].fingerprint), 64);
	}
	key_audit_free(list, n);
}

struct worker {
	struct p11_key *key;
	unsigned id;
	int	 failures;
};

/* work - one thread's signatures, each checked */
static void *
work(void *arg)
{
	struct worker *w = arg;
	unsigned char digest[32], sig[P11_SIG_MAX];
	struct p11_err err;
	size_t	 len;

	for (unsigned n = 0; n < SIGNS; n++) {
		for (size_t i = 0; i < 32; i++)
			digest[i] = (unsigned char)(w->id * 7 + n + i);
		len = sizeof(sig);
		if (p11_key_sign(w->key, digest, sig, &len, &err) < 0 ||
		    !independent_verify(w->key, digest, sig, len))
			w->failures++;
	}
	return NULL;
}

/* test_threads - many threads on two tokens at once */
static void
test_threads(void **state)
{
	struct p11_err err;
	struct p11_key *keys[2] = { token_key(tok_a, "alpha-rsa", &err),
	    token_key(tok_b, "beta-ed", &err) };
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct token_stats st;

	(void)state;
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ keys[i % 2], i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	token_stats(tok_a, &st);
	assert_true(st.signs >= THREADS / 2 * SIGNS);
	assert_int_equal(st.verify_failures, 0);
}

/* test_session_loss - sessions closed underneath: recovered by itself */
static void
test_session_loss(void **state)
{
	struct p11_err err;
	struct p11_key *k = token_key(tok_a, "alpha-rsa", &err);
	struct token_stats before, after;

	(void)state;
	token_stats(tok_a, &before);
	token_drop_sessions(tok_a);
	sign_ok(k, 10);
	sign_ok(k, 11);
	token_drop_sessions(tok_a);
	sign_ok(k, 12);
	token_stats(tok_a, &after);
	assert_true(after.recoveries > before.recoveries);
}

/*
 * test_store_moved - the token store disappears underneath (as a device
 * would): temporary failures, never a hang; signing comes back by itself
 * when the store returns.
 */
static void
test_store_moved(void **state)
{
	char	 store[600], away[600];
	unsigned char digest[32] = { 1 }, sig[P11_SIG_MAX];
	struct p11_err err;
	struct p11_key *k = token_key(tok_a, "alpha-rsa", &err);
	size_t	 len;
	int	 ok = 0;

	(void)state;
	assert_non_null(k);
	snprintf(store, sizeof(store), "%s/tokens", dir);
	snprintf(away, sizeof(away), "%s/tokens.away", dir);
	assert_int_equal(rename(store, away), 0);
	for (int i = 0; i < 3; i++) {
		len = sizeof(sig);
		assert_int_equal(p11_key_sign(k, digest, sig, &len, &err), -1);
		assert_true(err.temporary);
	}
	assert_int_equal(rename(away, store), 0);
	for (int i = 0; i < 200 && !ok; i++) {	/* back-off is at most 10 s */
		len = sizeof(sig);
		ok = p11_key_sign(k, digest, sig, &len, &err) == 0;
		if (!ok)
			usleep(100000);
	}
	if (!ok)
		fail_msg("signing did not come back: %s", err.msg);
	sign_ok(k, 20);
	sign_ok(token_key(tok_b, "beta-ed", &err), 21);
}

/* test_bad_input - wrong PIN, loose PIN file, no token, no module */
static void
test_bad_input(void **state)
{
	struct p11_err err;
	struct pin_source *pin;
	struct pin so = { .buf = SO_PIN, .len = sizeof(SO_PIN) - 1 };

	(void)state;
	assert_null(pin_source_file(pin_file("loose.pin", USER_PIN, 0644),
	    &err));
	assert_non_null(strstr(err.msg, "lets group or others read it"));
	pin = pin_source_file(pin_file("wrong.pin", "wrong-pin-000", 0600),
	    &err);
	assert_non_null(pin);
	assert_null(token_open(mod, "gamma", NULL, pin, 2, &err));
	assert_int_equal(err.rv, CKR_PIN_INCORRECT);
	assert_false(err.temporary);
	assert_non_null(strstr(err.msg, "C_Login on token 'gamma'"));
	pin = pin_source_file(pin_file("user.pin", USER_PIN, 0600), &err);
	assert_null(token_open(mod, "alpha", NULL, pin, 2, &err));
	assert_non_null(strstr(err.msg, "already open in this process"));
	pin = pin_source_file(pin_file("user.pin", USER_PIN, 0600), &err);
	assert_null(token_open(mod, "delta", NULL, pin, 2, &err));
	assert_non_null(strstr(err.msg, "no token labelled 'delta'"));
	assert_null(p11_module_load("/nonexistent/module.so", &err));
	assert_non_null(strstr(err.msg, "cannot load PKCS#11 module"));
	assert_int_equal(token_admin_init(mod, -1, "alpha", &so, &so, NULL,
	    &err), -1);
	assert_non_null(strstr(err.msg, "already exists"));
}

/* test_destroy - a destroyed key is gone */
static void
test_destroy(void **state)
{
	struct p11_err err;
	struct keygen_result res;

	(void)state;
	assert_int_equal(keygen_generate(tok_a, P11_KEY_ED25519, 0, "tmp-ed",
	    0, &res, &err), 0);
	assert_non_null(token_key(tok_a, "tmp-ed", &err));
	assert_int_equal(keygen_destroy(tok_a, "tmp-ed", &err), 0);
	assert_null(token_key(tok_a, "tmp-ed", &err));
	assert_int_equal(keygen_destroy(tok_a, "tmp-ed", &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_each_type),
		cmocka_unit_test(test_keygen_refusals),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_session_loss),
		cmocka_unit_test(test_store_moved),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_destroy),
	};

	return cmocka_run_group_tests_name("token (SoftHSM2)", tests, setup,
	    teardown);
}
