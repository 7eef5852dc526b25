/*
 * test_pub_record.c - provisioning/pub_record.c: a record is accepted
 * only when its SHA-256 is the expected fingerprint and it is exactly one
 * SubjectPublicKeyInfo of the expected type; one byte changed, one byte
 * more or less, another key or another type is refused with the reason;
 * the read is bounded and tells "none" from "unreadable"; the path
 * is <state-dir>/<code>.<selector>.spki and never cut short.
 *
 * Keys are made in memory with OpenSSL; files go to a mkdtemp(3)
 * directory that each test removes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "p11dkim/pub_record.h"

/* A key, its DER and its fingerprint. */
struct rec {
	EVP_PKEY *pk;
	unsigned char *der;
	size_t	 len;
	char	 fpr[PUB_RECORD_FPR];
};

/* rec_make - a fresh key of type ("RSA" or "ED25519") and its record */
static void
rec_make(struct rec *r, const char *type)
{
	r->pk = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL,
	    "RSA", (size_t)2048) : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(r->pk);
	assert_int_equal(pub_record_encode(r->pk, &r->der, &r->len), 0);
	assert_int_equal(pub_record_fingerprint(r->der, r->len, r->fpr), 0);
}

/* rec_free - what rec_make made */
static void
rec_free(struct rec *r)
{
	OPENSSL_free(r->der);
	EVP_PKEY_free(r->pk);
}

/* check - pub_record_check on bytes; the fault, the key freed */
static enum pub_record_fault
check(const unsigned char *der, size_t len, const char *fpr, int type,
    char *err, size_t errlen)
{
	EVP_PKEY *got = NULL;
	enum pub_record_fault f;

	f = pub_record_check(der, len, fpr, type, &got, err, errlen);
	assert_true((f == PUB_RECORD_OK) == (got != NULL));
	EVP_PKEY_free(got);
	return f;
}

/* test_good - the record of a key is that key, RSA and Ed25519 */
static void
test_good(void **state)
{
	struct rec r;
	EVP_PKEY *got = NULL;
	char	 err[256];

	(void)state;
	rec_make(&r, "ED25519");
	assert_int_equal(pub_record_check(r.der, r.len, r.fpr,
	    EVP_PKEY_ED25519, &got, err, sizeof(err)), PUB_RECORD_OK);
	assert_int_equal(EVP_PKEY_eq(got, r.pk), 1);
	EVP_PKEY_free(got);
	rec_free(&r);
	rec_make(&r, "RSA");
	assert_int_equal(check(r.der, r.len, r.fpr, EVP_PKEY_RSA, err,
	    sizeof(err)), PUB_RECORD_OK);
	rec_free(&r);
}

/* test_tampered - a byte changed, added or cut: the fingerprint fails */
static void
test_tampered(void **state)
{
	unsigned char buf[PUB_RECORD_MAX + 1];
	struct rec r;
	char	 err[256];

	(void)state;
	rec_make(&r, "RSA");
	memcpy(buf, r.der, r.len);
	buf[r.len / 2] ^= 1;
	assert_int_equal(check(buf, r.len, r.fpr, EVP_PKEY_RSA, err,
	    sizeof(err)), PUB_RECORD_MISMATCH);
	assert_non_null(strstr(err, r.fpr));
	memcpy(buf, r.der, r.len);
	buf[r.len] = 0;
	assert_int_equal(check(buf, r.len + 1, r.fpr, EVP_PKEY_RSA, err,
	    sizeof(err)), PUB_RECORD_MISMATCH);
	assert_int_equal(check(r.der, r.len - 1, r.fpr, EVP_PKEY_RSA, err,
	    sizeof(err)), PUB_RECORD_MISMATCH);
	assert_int_equal(check(r.der, 0, r.fpr, EVP_PKEY_RSA, err,
	    sizeof(err)), PUB_RECORD_MISMATCH);
	rec_free(&r);
}

/* test_other_key - another key of the right type: its fingerprint */
static void
test_other_key(void **state)
{
	struct rec a, b;
	char	 err[256];

	(void)state;
	rec_make(&a, "ED25519");
	rec_make(&b, "ED25519");
	assert_int_equal(check(b.der, b.len, a.fpr, EVP_PKEY_ED25519, err,
	    sizeof(err)), PUB_RECORD_MISMATCH);
	rec_free(&a);
	rec_free(&b);
}

/* test_wrong_type - an Ed25519 record where RSA is wanted, and back */
static void
test_wrong_type(void **state)
{
	struct rec r;
	char	 err[256];

	(void)state;
	rec_make(&r, "ED25519");
	assert_int_equal(check(r.der, r.len, r.fpr, EVP_PKEY_RSA, err,
	    sizeof(err)), PUB_RECORD_WRONG_TYPE);
	assert_non_null(strstr(err, "RSA"));
	rec_free(&r);
	rec_make(&r, "RSA");
	assert_int_equal(check(r.der, r.len, r.fpr, EVP_PKEY_ED25519, err,
	    sizeof(err)), PUB_RECORD_WRONG_TYPE);
	rec_free(&r);
}

/* test_not_der - bytes that hash right but are no SPKI, or more than one */
static void
test_not_der(void **state)
{
	unsigned char two[PUB_RECORD_MAX];
	static const unsigned char junk[] = "not a key at all";
	char	 fpr[PUB_RECORD_FPR], err[256];
	struct rec r;

	(void)state;
	assert_int_equal(pub_record_fingerprint(junk, sizeof(junk) - 1, fpr),
	    0);
	assert_int_equal(check(junk, sizeof(junk) - 1, fpr, EVP_PKEY_RSA, err,
	    sizeof(err)), PUB_RECORD_BAD_DER);
	rec_make(&r, "ED25519");
	memcpy(two, r.der, r.len);
	memcpy(two + r.len, r.der, r.len);
	assert_int_equal(pub_record_fingerprint(two, 2 * r.len, fpr), 0);
	assert_int_equal(check(two, 2 * r.len, fpr, EVP_PKEY_ED25519, err,
	    sizeof(err)), PUB_RECORD_BAD_DER);
	rec_free(&r);
}

/* test_fingerprint - the SHA-256 of "abc" (FIPS 180-2, B.1) */
static void
test_fingerprint(void **state)
{
	char	 fpr[PUB_RECORD_FPR];

	(void)state;
	assert_int_equal(pub_record_fingerprint((const unsigned char *)"abc",
	    3, fpr), 0);
	assert_string_equal(fpr, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

/* test_path - the record's name, refused rather than cut */
static void
test_path(void **state)
{
	char	 p[64];

	(void)state;
	assert_int_equal(pub_record_path("/var/lib/p11dkim", "mosa",
	    "stxsel1", p, sizeof(p)), 0);
	assert_string_equal(p, "/var/lib/p11dkim/mosa.stxsel1.spki");
	assert_int_equal(pub_record_path("/var/lib/p11dkim", "mosa",
	    "stxsel1", p, 34), -1);
	assert_int_equal(pub_record_path("/var/lib/p11dkim", "mosa",
	    "stxsel1", p, 35), 0);
}

/* write_file - len bytes of c into dir/name; its path in out */
static void
write_file(const char *dir, const char *name, size_t len, char *out,
    size_t outlen)
{
	FILE	*f;

	snprintf(out, outlen, "%s/%s", dir, name);
	assert_non_null(f = fopen(out, "w"));
	for (size_t i = 0; i < len; i++)
		fputc('x', f);
	assert_int_equal(fclose(f), 0);
}

/* test_read - none, a record, the largest, one byte too many, a link */
static void
test_read(void **state)
{
	char	 dir[] = "/tmp/test_pub_record.XXXXXX", p[256], q[256];
	char	 err[256];
	unsigned char buf[PUB_RECORD_MAX];
	size_t	 len = 99;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/none.spki", dir);
	assert_int_equal(pub_record_read(p, buf, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 0);
	write_file(dir, "max.spki", PUB_RECORD_MAX, p, sizeof(p));
	assert_int_equal(pub_record_read(p, buf, &len, err, sizeof(err)), 1);
	assert_int_equal(len, PUB_RECORD_MAX);
	unlink(p);
	write_file(dir, "big.spki", PUB_RECORD_MAX + 1, p, sizeof(p));
	assert_int_equal(pub_record_read(p, buf, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger"));
	snprintf(q, sizeof(q), "%s/link.spki", dir);
	assert_int_equal(symlink(p, q), 0);
	assert_int_equal(pub_record_read(q, buf, &len, err, sizeof(err)), -1);
	unlink(q);
	unlink(p);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_not_der),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
