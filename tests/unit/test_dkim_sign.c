/*
 * test_dkim_sign.c - dkim/dkim_sign.c: the streaming API end to end with
 * a stand-in signer: chunk-split invariance, line-ending invariance, the
 * two-step and header-first flows, dual signatures, and every refusal.
 * (Real keys and independent verifiers are in tests/xverify.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/dkim_sign.h"

static const char msg_crlf[] =
    "Received: from a by b; Mon, 2 Jan 2026 10:00:00 +0000\r\n"
    "From: Tickets <tickets@mosamuseum.com>\r\n"
    "To: visitor@example.org\r\n"
    "Subject: Your tickets\r\n"
    "\tfor Saturday\r\n"
    "Message-ID: <42@mosamuseum.com>\r\n"
    "\r\n"
    "Hello  visitor, \r\n"
    "\r\n"
    "your tickets are attached.\r\n"
    "\r\n"
    "\r\n";

/* fake_sign - a stand-in signer: the digest, repeated to len bytes */
static int
fake_sign(void *arg, const struct dkim_sign_params *p,
    const unsigned char digest[DKIM_DIGEST_LEN], unsigned char *sig,
    size_t *siglen, struct dkim_err *err)
{
	size_t	 len = p->alg == DKIM_ALG_ED25519_SHA256 ? 64 : 256;

	(void)err;
	if (arg != NULL)
		len = *(size_t *)arg;
	for (size_t i = 0; i < len; i++)
		sig[i] = digest[i % DKIM_DIGEST_LEN];
	*siglen = len;
	return 0;
}

/* params - rsa-sha256 relaxed/relaxed for mosamuseum.com at a fixed time */
static struct dkim_sign_params
params(void)
{
	struct dkim_sign_params p = {
		.alg = DKIM_ALG_RSA_SHA256, .domain = "mosamuseum.com",
		.selector = "stxsel1", .now = 1767225600,
	};

	return p;
}

struct result {
	unsigned char digest[DKIM_DIGEST_LEN];
	unsigned char bh[DKIM_DIGEST_LEN];
	char	 field[4096];
};

/* sign_chunked - sign msg fed in chunks of step bytes (0: random) */
static void
sign_chunked(const char *msg, size_t len, size_t step,
    const struct dkim_sign_params *p, struct result *r)
{
	struct dkim_err err;
	struct dkim_sign *ctx = dkim_sign_new(NULL, &err);
	uint32_t seed = 7;
	size_t	 at = 0, n;

	assert_non_null(ctx);
	assert_int_equal(dkim_sign_add(ctx, p, &err), 0);
	while (at < len) {
		seed = seed * 1103515245u + 12345u;
		n = step ? step : 1 + (seed >> 16) % 13;
		if (n > len - at)
			n = len - at;
		assert_int_equal(dkim_sign_update(ctx, msg + at, n, &err), 0);
		at += n;
	}
	assert_int_equal(dkim_sign_finish(ctx, fake_sign, NULL, &err), 0);
	assert_int_equal(dkim_sign_digest(ctx, 0, r->digest), 0);
	assert_int_equal(dkim_sign_body_hash(ctx, 0, r->bh), 0);
	snprintf(r->field, sizeof(r->field), "%s", dkim_sign_field(ctx, 0, NULL));
	dkim_sign_free(ctx);
}

/* to_lf - the message with bare LF line endings */
static char *
to_lf(const char *crlf)
{
	char	*lf = strdup(crlf), *o = lf;

	assert_non_null(lf);
	for (const char *p = crlf; *p; p++)
		if (*p != '\r')
			*o++ = *p;
	*o = '\0';
	return lf;
}

/* test_chunk_invariance - 1-byte, random and whole chunks; LF and CRLF */
static void
test_chunk_invariance(void **state)
{
	struct dkim_sign_params p = params();
	struct result whole, other;
	char	*lf = to_lf(msg_crlf);
	size_t	 steps[] = { 1, 0, 2, 3, 64 };

	(void)state;
	for (int c = 0; c < 4; c++) {
		p.hcanon = c & 1 ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
		p.bcanon = c & 2 ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
		sign_chunked(msg_crlf, strlen(msg_crlf), strlen(msg_crlf), &p,
		    &whole);
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			sign_chunked(msg_crlf, strlen(msg_crlf), steps[i], &p,
			    &other);
			assert_memory_equal(whole.digest, other.digest, 32);
			assert_memory_equal(whole.bh, other.bh, 32);
			assert_string_equal(whole.field, other.field);
			sign_chunked(lf, strlen(lf), steps[i], &p, &other);
			assert_memory_equal(whole.digest, other.digest, 32);
			assert_string_equal(whole.field, other.field);
		}
	}
	free(lf);
}

/* unfold - the field without its folds (CRLF HTAB removed) */
static void
unfold(char *s)
{
	char	*o = s;

	for (char *p = s; *p; p++) {
		if (p[0] == '\r' && p[1] == '\n' && p[2] == '\t') {
			p += 2;
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
}

/* test_field_shape - the field's text */
static void
test_field_shape(void **state)
{
	struct dkim_sign_params p = params();
	struct result r;

	(void)state;
	p.identity = "tickets@mosamuseum.com";
	p.expire_secs = 86400;
	sign_chunked(msg_crlf, strlen(msg_crlf), 0, &p, &r);
	assert_memory_equal(r.field, "DKIM-Signature: v=1; a=rsa-sha256; "
	    "c=relaxed/relaxed; d=mosamuseum.com;", 71);
	assert_memory_equal(r.field + strlen(r.field) - 2, "\r\n", 2);
	unfold(r.field);
	assert_non_null(strstr(r.field, "i=tickets@mosamuseum.com;"));
	assert_non_null(strstr(r.field, "t=1767225600;"));
	assert_non_null(strstr(r.field, "x=1767312000;"));
	assert_non_null(strstr(r.field, "h=from:from:reply-to:subject:"
	    "subject:date:to:to:cc:message-id:message-id;"));
	assert_null(strstr(r.field, "l="));
}

/* test_header_first_flow - headers, then params, then body; two-step sign */
static void
test_header_first_flow(void **state)
{
	struct dkim_sign_params p = params();
	struct dkim_err err;
	struct dkim_sign *ctx = dkim_sign_new(NULL, &err);
	struct result ref;
	unsigned char digest[32], sig[256];
	size_t	 used, len;
	const char *v;

	(void)state;
	sign_chunked(msg_crlf, strlen(msg_crlf), 0, &p, &ref);
	assert_int_equal(dkim_sign_headers(ctx, msg_crlf, strlen(msg_crlf),
	    &used, &err), 0);
	assert_true(dkim_sign_headers_complete(ctx));
	v = dkim_sign_header_value(ctx, "message-id", &len);
	assert_non_null(v);
	assert_int_equal(len, strlen(" <42@mosamuseum.com>"));
	assert_int_equal(dkim_sign_add(ctx, &p, &err), 0);
	assert_int_equal(dkim_sign_body(ctx, msg_crlf + used,
	    strlen(msg_crlf) - used, &err), 0);
	assert_int_equal(dkim_sign_add(ctx, &p, &err), -1);
	assert_int_equal(err.status, DKIM_ESTATE);
	assert_int_equal(dkim_sign_end(ctx, &err), 0);
	assert_int_equal(dkim_sign_digest(ctx, 0, digest), 0);
	assert_memory_equal(digest, ref.digest, 32);
	for (size_t i = 0; i < sizeof(sig); i++)
		sig[i] = digest[i % 32];
	assert_null(dkim_sign_field(ctx, 0, NULL));
	assert_int_equal(dkim_sign_set_signature(ctx, 0, sig, sizeof(sig),
	    &err), 0);
	assert_string_equal(dkim_sign_field(ctx, 0, NULL), ref.field);
	assert_int_equal(dkim_sign_set_signature(ctx, 0, sig, sizeof(sig),
	    &err), -1);
	dkim_sign_free(ctx);
}

/* test_dual - rsa + ed25519 on one message share the body hash */
static void
test_dual(void **state)
{
	struct dkim_sign_params rsa = params(), ed = params();
	struct dkim_err err;
	struct dkim_sign *ctx = dkim_sign_new(NULL, &err);
	unsigned char bh1[32], bh2[32];

	(void)state;
	ed.alg = DKIM_ALG_ED25519_SHA256;
	ed.selector = "stxsel1-ed";
	assert_int_equal(dkim_sign_add(ctx, &rsa, &err), 0);
	assert_int_equal(dkim_sign_add(ctx, &ed, &err), 0);
	assert_int_equal(dkim_sign_update(ctx, msg_crlf, strlen(msg_crlf),
	    &err), 0);
	assert_int_equal(dkim_sign_finish(ctx, fake_sign, NULL, &err), 0);
	assert_int_equal(dkim_sign_count(ctx), 2);
	assert_non_null(strstr(dkim_sign_field(ctx, 1, NULL),
	    "a=ed25519-sha256;"));
	assert_int_equal(dkim_sign_body_hash(ctx, 0, bh1), 0);
	assert_int_equal(dkim_sign_body_hash(ctx, 1, bh2), 0);
	assert_memory_equal(bh1, bh2, 32);
	dkim_sign_free(ctx);
}

/* expect_refusal - signing msg fails with status and a message prefix */
static void
expect_refusal(const char *msg, const struct dkim_limits *lim,
    enum dkim_status status, const char *text)
{
	struct dkim_sign_params p = params();
	struct dkim_err err;
	struct dkim_sign *ctx = dkim_sign_new(lim, &err);
	int	 rc;

	assert_non_null(ctx);
	assert_int_equal(dkim_sign_add(ctx, &p, &err), 0);
	rc = dkim_sign_update(ctx, msg, strlen(msg), &err);
	if (rc == 0)
		rc = dkim_sign_finish(ctx, fake_sign, NULL, &err);
	assert_int_equal(rc, -1);
	assert_int_equal(err.status, status);
	if (strstr(err.msg, text) == NULL)
		fail_msg("'%s' does not say '%s'", err.msg, text);
	assert_null(dkim_sign_field(ctx, 0, NULL));
	assert_int_equal(dkim_sign_end(ctx, &err), -1);
	dkim_sign_free(ctx);
}

/* test_refusals - unsignable messages and limits */
static void
test_refusals(void **state)
{
	struct dkim_limits small = { .header_bytes = 100 };
	struct dkim_limits few = { .header_fields = 2 };

	(void)state;
	expect_refusal("To: a@example.org\r\n\r\nbody\r\n", NULL,
	    DKIM_EMESSAGE, "no From header field");
	expect_refusal("From: a@example.org\r\nFrom: b@example.org\r\n\r\nx\n",
	    NULL, DKIM_EMESSAGE, "2 From header fields");
	expect_refusal("From: a@example.org\nfrom: b@example.org", NULL,
	    DKIM_EMESSAGE, "2 From header fields");
	expect_refusal("From: a@example.org\r\nbogus line\r\n\r\n", NULL,
	    DKIM_EMESSAGE, "header line 2: not a header field");
	expect_refusal(msg_crlf, &small, DKIM_ELIMIT, "larger than the limit");
	expect_refusal(msg_crlf, &few, DKIM_ELIMIT, "more than 2 header");
}

/* test_bad_params - refused before anything is signed */
static void
test_bad_params(void **state)
{
	struct dkim_sign_params p = params();
	struct dkim_limits huge = { .header_bytes = DKIM_HEADER_BYTES_MAX + 1 };
	struct dkim_err err;
	struct dkim_sign *ctx = dkim_sign_new(NULL, &err);
	static const char *const bad_list[] = { "From:", NULL };

	(void)state;
	assert_null(dkim_sign_new(&huge, &err));
	assert_int_equal(err.status, DKIM_EPARAM);
	p.alg = 0;
	assert_int_equal(dkim_sign_add(ctx, &p, &err), -1);
	assert_int_equal(err.status, DKIM_EPARAM);
	p = params();
	p.domain = "not a domain";
	assert_int_equal(dkim_sign_add(ctx, &p, &err), -1);
	p = params();
	p.identity = "x@other.example";
	assert_int_equal(dkim_sign_add(ctx, &p, &err), -1);
	p = params();
	p.sign_headers = bad_list;
	assert_int_equal(dkim_sign_add(ctx, &p, &err), -1);
	p = params();
	for (int i = 0; i < DKIM_SIGNATURES_MAX; i++)
		assert_int_equal(dkim_sign_add(ctx, &p, &err), 0);
	assert_int_equal(dkim_sign_add(ctx, &p, &err), -1);
	dkim_sign_free(ctx);
	ctx = dkim_sign_new(NULL, &err);
	assert_int_equal(dkim_sign_update(ctx, msg_crlf, strlen(msg_crlf),
	    &err), -1);
	assert_int_equal(err.status, DKIM_ESTATE);
	assert_null(dkim_sign_free(ctx));
	assert_null(dkim_sign_free(NULL));
}

/* failing_sign - a signer that reports the status given in arg */
static int
failing_sign(void *arg, const struct dkim_sign_params *p,
    const unsigned char digest[DKIM_DIGEST_LEN], unsigned char *sig,
    size_t *siglen, struct dkim_err *err)
{
	(void)p; (void)digest; (void)sig; (void)siglen;
	err->status = *(enum dkim_status *)arg;
	return -1;
}

/* sign_with - finish msg_crlf with the given signer */
static int
sign_with(dkim_sign_cb *cb, void *arg, struct dkim_err *err)
{
	struct dkim_sign_params p = params();
	struct dkim_sign *ctx = dkim_sign_new(NULL, err);
	int	 rc;

	assert_int_equal(dkim_sign_add(ctx, &p, err), 0);
	assert_int_equal(dkim_sign_update(ctx, msg_crlf, strlen(msg_crlf),
	    err), 0);
	rc = dkim_sign_finish(ctx, cb, arg, err);
	if (rc < 0)
		assert_null(dkim_sign_field(ctx, 0, NULL));
	dkim_sign_free(ctx);
	return rc;
}

/* test_signer_failures - temporary vs permanent, and bad lengths */
static void
test_signer_failures(void **state)
{
	struct dkim_err err;
	enum dkim_status st;
	size_t	 len;

	(void)state;
	st = DKIM_ESIGN_PERM;
	assert_int_equal(sign_with(failing_sign, &st, &err), -1);
	assert_int_equal(err.status, DKIM_ESIGN_PERM);
	assert_false(dkim_status_temporary(err.status));
	st = DKIM_OK;		/* a signer that forgot to say: temporary */
	assert_int_equal(sign_with(failing_sign, &st, &err), -1);
	assert_int_equal(err.status, DKIM_ESIGN_TEMP);
	assert_true(dkim_status_temporary(err.status));
	len = 64;		/* an RSA signature cannot be 64 bytes */
	assert_int_equal(sign_with(fake_sign, &len, &err), -1);
	assert_int_equal(err.status, DKIM_ESIGN_TEMP);
	assert_non_null(strstr(err.msg, "unexpected length"));
}

/* test_empty_and_header_only - bodies that are empty or absent */
static void
test_empty_and_header_only(void **state)
{
	struct dkim_sign_params p = params();
	struct result a, b;
	static const char only[] = "From: a@mosamuseum.com\r\nSubject: x";
	static const char empty[] = "From: a@mosamuseum.com\r\nSubject: x\r\n\r\n";

	(void)state;
	p.bcanon = DKIM_CANON_SIMPLE;
	sign_chunked(only, strlen(only), 1, &p, &a);
	sign_chunked(empty, strlen(empty), 1, &p, &b);
	assert_memory_equal(a.bh, b.bh, 32);
	assert_memory_equal(a.digest, b.digest, 32);
	/* SHA-256 of "\r\n" (RFC 6376 3.4.3: an empty body is CRLF) */
	assert_int_equal(a.bh[0], 0x7e);
	assert_non_null(strstr(a.field, "bh=frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=;"));
	p.bcanon = DKIM_CANON_RELAXED;	/* empty: SHA-256 of nothing */
	sign_chunked(empty, strlen(empty), 1, &p, &b);
	assert_non_null(strstr(b.field, "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_invariance),
		cmocka_unit_test(test_field_shape),
		cmocka_unit_test(test_header_first_flow),
		cmocka_unit_test(test_dual),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_signer_failures),
		cmocka_unit_test(test_empty_and_header_only),
	};

	return cmocka_run_group_tests_name("dkim_sign", tests, NULL, NULL);
}
