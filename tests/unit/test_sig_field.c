/*
 * test_sig_field.c - dkim/sig_field.c: tag order, no l=, folding to 78
 * characters, b= last with its base64 folded inside the value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/sig_field.h"

/*
 * assert_lines_fit - every line at most 78 characters, folded with CRLF
 * HTAB; only a single tag that cannot be folded (a d= or i= longer than a
 * line) may stand alone on a longer line.
 */
static void
assert_lines_fit(const char *s)
{
	const char *p = s, *crlf;

	while ((crlf = strstr(p, "\r\n")) != NULL) {
		int alone = *p == '\t' && memchr(p, ' ', (size_t)(crlf - p)) == NULL;

		if (crlf - p > SIG_FIELD_LINE_MAX && !alone)
			fail_msg("line of %d characters: %.*s",
			    (int)(crlf - p), (int)(crlf - p), p);
		p = crlf + 2;
		if (*p != '\0')
			assert_int_equal(*p, '\t');
	}
	assert_int_equal(*p, '\0');
}

/* build - a complete field with a signature of siglen bytes */
static void
build(const struct sig_tags *t, size_t siglen, struct buf *out)
{
	unsigned char sig[DKIM_SIG_MAX];

	memset(sig, 0xA5, sizeof(sig));
	buf_init(out, SIG_FIELD_MAX);
	assert_int_equal(sig_field_prefix(t, out), 0);
	assert_memory_equal(out->data + out->len - 2, "b=", 2);
	assert_int_equal(sig_field_finish(out, sig, siglen), 0);
}

static const unsigned char bh[DKIM_DIGEST_LEN] = { 1, 2, 3 };

/* test_rsa_field - tags in order, folded, no l= */
static void
test_rsa_field(void **state)
{
	struct sig_tags t = {
		.alg = DKIM_ALG_RSA_SHA256, .hcanon = DKIM_CANON_RELAXED,
		.bcanon = DKIM_CANON_SIMPLE, .domain = "mosamuseum.com",
		.selector = "stxsel1", .identity = NULL,
		.timestamp = 1700000000, .expire = 1700086400,
		.hlist = "from:from:reply-to:subject:subject:date:to:to:cc:"
		    "list-id:list-unsubscribe:message-id:mime-version:"
		    "content-type:content-transfer-encoding",
		.body_hash = bh,
	};
	struct buf out;
	const char *v, *a, *c, *d, *s, *tt, *x, *h, *bhp, *b;

	(void)state;
	build(&t, 256, &out);
	assert_lines_fit(out.data);
	assert_memory_equal(out.data, "DKIM-Signature: v=1; a=rsa-sha256; "
	    "c=relaxed/simple; d=mosamuseum.com;", 70);
	v = strstr(out.data, "v=1;");
	a = strstr(out.data, "a=rsa-sha256;");
	c = strstr(out.data, "c=relaxed/simple;");
	d = strstr(out.data, "d=mosamuseum.com;");
	s = strstr(out.data, "s=stxsel1;");
	tt = strstr(out.data, "t=1700000000;");
	x = strstr(out.data, "x=1700086400;");
	h = strstr(out.data, "h=from:");
	bhp = strstr(out.data, "bh=");
	b = strstr(out.data, " b=");
	if (b == NULL)
		b = strstr(out.data, "\tb=");
	assert_true(v && a && c && d && s && tt && x && h && bhp && b);
	assert_true(v < a && a < c && c < d && d < s && s < tt && tt < x &&
	    x < h && h < bhp && bhp < b);
	assert_null(strstr(out.data, "l="));
	assert_null(strstr(out.data, "i="));
	buf_release(&out);
}

/* test_long_values - long domain, i=, 4096-bit signature still fit */
static void
test_long_values(void **state)
{
	struct sig_tags t = {
		.alg = DKIM_ALG_ED25519_SHA256, .hcanon = DKIM_CANON_SIMPLE,
		.bcanon = DKIM_CANON_SIMPLE,
		.domain = "a-rather-long-subdomain-name-for-testing.example-"
		    "institution-with-a-long-name.example.org",
		.selector = "sel2-mosa", .identity = "newsletter@a-rather-long-"
		    "subdomain-name-for-testing.example-institution-with-a-"
		    "long-name.example.org",
		.timestamp = -1, .expire = -1, .hlist = "from",
		.body_hash = bh,
	};
	struct buf out;

	(void)state;
	build(&t, 512, &out);
	assert_lines_fit(out.data);
	assert_null(strstr(out.data, "t="));
	assert_null(strstr(out.data, "x="));
	assert_non_null(strstr(out.data, "a=ed25519-sha256;"));
	buf_release(&out);
}

/* test_base64 - the folded b= value decodes to the signature bytes */
static void
test_base64(void **state)
{
	struct buf b64;
	unsigned char raw[3] = { 0xfb, 0xff, 0x00 };

	(void)state;
	buf_init(&b64, 64);
	assert_int_equal(sig_field_base64(raw, 3, &b64), 0);
	assert_string_equal(buf_str(&b64), "+/8A");
	buf_release(&b64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsa_field),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests_name("sig_field", tests, NULL, NULL);
}
