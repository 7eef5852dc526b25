/*
 * test_sign_params.c - dkim/sign_params.c and dkim/dkim_alg.c: what may
 * go into d=, s=, i=, h=, a= and c=.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/dkim_alg.h"
#include "p11dkim/sign_params.h"

/* test_domains - d= and s= grammar */
static void
test_domains(void **state)
{
	static const char *good[] = { "example.org", "mosamuseum.com",
	    "a-b.c-d.example", "x1.example", NULL };
	static const char *bad[] = { "", "example", ".example.org",
	    "example..org", "-a.example", "a-.example", "ex ample.org",
	    "ex;ample.org", "exa_mple.org", "example.org.", NULL };
	struct dkim_err err;

	(void)state;
	for (size_t i = 0; good[i]; i++)
		assert_int_equal(sign_params_domain(good[i], &err), 0);
	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(sign_params_domain(bad[i], &err), -1);
		assert_int_equal(err.status, DKIM_EPARAM);
	}
	assert_int_equal(sign_params_selector("stxsel1", &err), 0);
	assert_int_equal(sign_params_selector("sel1.2026", &err), 0);
	assert_int_equal(sign_params_selector("sel;x=1", &err), -1);
	assert_int_equal(sign_params_selector("", &err), -1);
}

/* test_identity - i= within d=, dkim-quoted-printable */
static void
test_identity(void **state)
{
	struct dkim_err err;
	struct buf out;

	(void)state;
	buf_init(&out, 512);
	assert_int_equal(sign_params_identity("@example.org", "example.org",
	    &out, &err), 0);
	assert_string_equal(buf_str(&out), "@example.org");
	buf_release(&out);
	assert_int_equal(sign_params_identity("a=b@news.Example.org",
	    "example.org", &out, &err), 0);
	assert_string_equal(buf_str(&out), "a=3Db@news.Example.org");
	buf_release(&out);
	assert_int_equal(sign_params_identity("x@example.net", "example.org",
	    &out, &err), -1);
	assert_non_null(strstr(err.msg, "not within the signing domain"));
	assert_int_equal(sign_params_identity("x@badexample.org",
	    "example.org", &out, &err), -1);
	assert_int_equal(sign_params_identity("no-at-sign", "example.org",
	    &out, &err), -1);
	assert_int_equal(sign_params_identity("a;b@example.org",
	    "example.org", &out, &err), -1);
	buf_release(&out);
}

/* test_names - header name lists */
static void
test_names(void **state)
{
	static const char *const good[] = { "From", "List-*", "X-Y", NULL };
	static const char *const bad1[] = { "From:", NULL };
	static const char *const bad2[] = { "*", NULL };
	static const char *const bad3[] = { "Sub ject", NULL };
	static const char *const bad4[] = { "List-x;l=0", NULL };
	static const char *const bad5[] = { "X;*", NULL };
	struct dkim_err err;

	(void)state;
	assert_int_equal(sign_params_names(good, "h", &err), 0);
	assert_int_equal(sign_params_names(bad1, "h", &err), -1);
	assert_int_equal(sign_params_names(bad2, "h", &err), -1);
	assert_int_equal(sign_params_names(bad3, "h", &err), -1);
	assert_string_equal(err.msg, "h: bad header field name 'Sub ject'");
	/* ';' ends a tag value (RFC 6376 3.2): no name in h= may hold one. */
	assert_int_equal(sign_params_names(bad4, "h", &err), -1);
	assert_int_equal(sign_params_names(bad5, "h", &err), -1);
}

/* test_algorithms - rsa-sha1 is refused by name (RFC 8301) */
static void
test_algorithms(void **state)
{
	enum dkim_alg alg;
	enum dkim_canon h, b;
	struct dkim_err err;

	(void)state;
	assert_int_equal(dkim_alg_parse("rsa-sha256", &alg, &err), 0);
	assert_int_equal(alg, DKIM_ALG_RSA_SHA256);
	assert_int_equal(dkim_alg_parse("ED25519-SHA256", &alg, &err), 0);
	assert_int_equal(alg, DKIM_ALG_ED25519_SHA256);
	assert_int_equal(dkim_alg_parse("rsa-sha1", &alg, &err), -1);
	assert_non_null(strstr(err.msg, "RFC 8301"));
	assert_int_equal(dkim_alg_parse("dsa", &alg, &err), -1);
	assert_int_equal(dkim_canon_parse("relaxed/simple", &h, &b, &err), 0);
	assert_int_equal(h, DKIM_CANON_RELAXED);
	assert_int_equal(b, DKIM_CANON_SIMPLE);
	assert_int_equal(dkim_canon_parse("relaxed", &h, &b, &err), 0);
	assert_int_equal(b, DKIM_CANON_SIMPLE);
	assert_int_equal(dkim_canon_parse("relaxed/", &h, &b, &err), -1);
	assert_int_equal(dkim_canon_parse("loose/simple", &h, &b, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_algorithms),
	};

	return cmocka_run_group_tests_name("sign_params", tests, NULL, NULL);
}
