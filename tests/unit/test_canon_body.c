/*
 * test_canon_body.c - dkim/canon_body.c: RFC 6376 3.4.3 and 3.4.4, the
 * examples of 3.4.5, edge cases, chunk-split invariance, and a
 * differential test against a plain (non-streaming) reading of the RFC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/buf.h"
#include "p11dkim/canon_body.h"

struct body_case {
	const char *name;
	const char *in;
	size_t	 in_len;		/* 0: strlen(in) */
	const char *simple;
	const char *relaxed;
};

#define S(x)	x, 0

static const struct body_case cases[] = {
	{ "rfc6376-3.4.5", S(" C \r\nD \t E\r\n\r\n\r\n"),
	  " C \r\nD \t E\r\n", " C\r\nD E\r\n" },
	{ "empty", S(""), "\r\n", "" },
	{ "one-crlf", S("\r\n"), "\r\n", "" },
	{ "only-empty-lines", S("\r\n\r\n\r\n"), "\r\n", "" },
	{ "only-lf-lines", S("\n\n"), "\r\n", "" },
	{ "no-final-newline", S("abc"), "abc\r\n", "abc\r\n" },
	{ "trailing-empty-lines", S("abc\r\n\r\n\r\n"), "abc\r\n", "abc\r\n" },
	{ "lf-only", S("a\nb\n\n"), "a\r\nb\r\n", "a\r\nb\r\n" },
	{ "mixed-endings", S("a\r\nb\nc"), "a\r\nb\r\nc\r\n",
	  "a\r\nb\r\nc\r\n" },
	{ "trailing-wsp", S("abc \t \r\n"), "abc \t \r\n", "abc\r\n" },
	{ "wsp-run", S("a  \t b\r\n"), "a  \t b\r\n", "a b\r\n" },
	{ "leading-wsp", S("   a\r\n"), "   a\r\n", " a\r\n" },
	{ "single-leading-sp", S(" a b\r\n"), " a b\r\n", " a b\r\n" },
	{ "wsp-only-line-inside", S("a\r\n  \r\nb\r\n"), "a\r\n  \r\nb\r\n",
	  "a\r\n\r\nb\r\n" },
	{ "wsp-only-lines-at-end", S("a\r\n \r\n\t\r\n"), "a\r\n \r\n\t\r\n",
	  "a\r\n" },
	{ "wsp-only-body", S("   "), "   \r\n", "" },
	{ "wsp-at-end-no-newline", S("abc  "), "abc  \r\n", "abc\r\n" },
	{ "leading-empty-lines", S("\r\n\r\na\r\n"), "\r\n\r\na\r\n",
	  "\r\n\r\na\r\n" },
	{ "lone-cr-inside", S("a\rb\r\n"), "a\rb\r\n", "a\rb\r\n" },
	{ "lone-cr-at-end", S("a\r"), "a\r\r\n", "a\r\r\n" },
	{ "cr-cr-lf", S("a\r\r\n"), "a\r\r\n", "a\r\r\n" },
	{ "lone-cr-between-wsp", S("a \r b\r\n"), "a \r b\r\n",
	  "a \r b\r\n" },
	{ "lone-cr-alone", S("\r"), "\r\r\n", "\r\r\n" },
	{ "wsp-before-lone-cr", S("a  \rb"), "a  \rb\r\n", "a \rb\r\n" },
	{ "tab-only-separator", S("a\tb\r\n"), "a\tb\r\n", "a b\r\n" },
	{ "empty-then-wsp-line", S("\r\n \r\nx\r\n"), "\r\n \r\nx\r\n",
	  "\r\n\r\nx\r\n" },
	{ "words-across-crlf", S("one two three four\r\nfive six seven\r\n"),
	  "one two three four\r\nfive six seven\r\n",
	  "one two three four\r\nfive six seven\r\n" },
	{ "crlf-then-sp", S("abcdefghij\r\n klmnopqrs\r\n"),
	  "abcdefghij\r\n klmnopqrs\r\n", "abcdefghij\r\n klmnopqrs\r\n" },
	{ "crlf-then-tab", S("abcdefghij\r\n\tklmnopqrs\r\n"),
	  "abcdefghij\r\n\tklmnopqrs\r\n", "abcdefghij\r\n klmnopqrs\r\n" },
	{ "crlf-then-empty", S("abcdefghij\r\n\r\nklmnopqrs\r\n\r\n"),
	  "abcdefghij\r\n\r\nklmnopqrs\r\n",
	  "abcdefghij\r\n\r\nklmnopqrs\r\n" },
	{ "double-sp-after-8", S("abcdefghijkl  mnop\r\n"),
	  "abcdefghijkl  mnop\r\n", "abcdefghijkl mnop\r\n" },
	{ "sp-before-crlf-after-8", S("abcdefghijkl \r\nmnop"),
	  "abcdefghijkl \r\nmnop\r\n", "abcdefghijkl\r\nmnop\r\n" },
	{ "lone-cr-after-8", S("abcdefghijkl\rmnopqrstu\r\n"),
	  "abcdefghijkl\rmnopqrstu\r\n", "abcdefghijkl\rmnopqrstu\r\n" },
	{ "control-and-8bit", S("abc\x01" "def\x1f" "ghi\x80\xff jkl\x7f\r\n"),
	  "abc\x01" "def\x1f" "ghi\x80\xff jkl\x7f\r\n",
	  "abc\x01" "def\x1f" "ghi\x80\xff jkl\x7f\r\n" },
	{ "nul-byte", "a\0b\r\n", 5, NULL, NULL },
};

/* sink_buf - collect canonical output */
static int
sink_buf(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n);
}

/* canon_chunks - canonicalize in, cut at the split points given */
static void
canon_chunks(enum dkim_canon mode, const char *in, size_t len,
    const size_t *cuts, size_t ncuts, struct buf *out)
{
	struct canon_body cb;
	size_t	 at = 0;

	buf_init(out, 1 << 20);
	canon_body_init(&cb, mode, sink_buf, out);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		assert_int_equal(canon_body_update(&cb, in + at, end - at), 0);
		at = end;
	}
	assert_int_equal(canon_body_final(&cb), 0);
}

/* check_all_splits - every one- and two-point split gives expect */
static void
check_all_splits(enum dkim_canon mode, const char *in, size_t len,
    const char *expect, size_t expect_len)
{
	struct buf out;
	size_t	 cuts[2];

	for (cuts[0] = 0; cuts[0] <= len; cuts[0]++)
		for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++) {
			canon_chunks(mode, in, len, cuts, 2, &out);
			if (out.len != expect_len ||
			    memcmp(buf_str(&out), expect, expect_len) != 0)
				fail_msg("split %zu/%zu: got '%s'", cuts[0],
				    cuts[1], buf_str(&out));
			buf_release(&out);
		}
}

/* test_table - each case, both algorithms, every split */
static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct body_case *c = &cases[i];
		size_t	 len = c->in_len ? c->in_len : strlen(c->in);

		if (c->simple == NULL) {	/* binary: output equals input */
			check_all_splits(DKIM_CANON_SIMPLE, c->in, len, c->in,
			    len);
			check_all_splits(DKIM_CANON_RELAXED, c->in, len, c->in,
			    len);
			continue;
		}
		check_all_splits(DKIM_CANON_SIMPLE, c->in, len, c->simple,
		    strlen(c->simple));
		check_all_splits(DKIM_CANON_RELAXED, c->in, len, c->relaxed,
		    strlen(c->relaxed));
	}
}

/* test_many_empty_lines - held-back empty lines are counted, not stored */
static void
test_many_empty_lines(void **state)
{
	struct buf in, expect, out;

	(void)state;
	buf_init(&in, 1 << 20);
	buf_init(&expect, 1 << 20);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_append(&in, "\r\n", 2), 0);
	assert_int_equal(buf_append(&expect, in.data, in.len), 0);
	assert_int_equal(buf_append(&in, "x", 1), 0);
	assert_int_equal(buf_append(&expect, "x\r\n", 3), 0);
	canon_chunks(DKIM_CANON_RELAXED, in.data, in.len, NULL, 0, &out);
	assert_int_equal(out.len, expect.len);
	assert_memory_equal(out.data, expect.data, out.len);
	buf_release(&out);
	buf_release(&in);
	buf_release(&expect);
}

/*
 * reference - the RFC rules applied to a whole body, plainly: first the
 * wire form (bare LF -> CRLF, a final CRLF added), then 3.4.3 / 3.4.4.
 */
static void
reference(enum dkim_canon mode, const char *in, size_t len, struct buf *out)
{
	struct buf wire, tmp;
	size_t	 i;

	buf_init(&wire, 1 << 20);
	buf_init(&tmp, 1 << 20);
	buf_init(out, 1 << 20);
	for (i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			buf_append(&wire, "\r", 1);
		buf_append(&wire, in + i, 1);
	}
	if (wire.len > 0 && (wire.len < 2 ||
	    memcmp(wire.data + wire.len - 2, "\r\n", 2) != 0))
		buf_append(&wire, "\r\n", 2);
	if (mode == DKIM_CANON_RELAXED) {
		/* WSP runs to one SP, then drop SP before CRLF */
		for (i = 0; i < wire.len; i++) {
			int wsp = wire.data[i] == ' ' || wire.data[i] == '\t';

			if (wsp && tmp.len > 0 && tmp.data[tmp.len - 1] == ' ' &&
			    i > 0 && (wire.data[i - 1] == ' ' ||
			    wire.data[i - 1] == '\t'))
				continue;
			buf_append(&tmp, wsp ? " " : wire.data + i, 1);
			if (wire.data[i] == '\n' && tmp.len >= 3 &&
			    tmp.data[tmp.len - 3] == ' ') {
				tmp.data[tmp.len - 3] = '\r';
				tmp.data[tmp.len - 2] = '\n';
				buf_truncate(&tmp, tmp.len - 1);
			}
		}
	} else {
		buf_append(&tmp, wire.data ? wire.data : "", wire.len);
	}
	while (tmp.len >= 4 && memcmp(tmp.data + tmp.len - 4, "\r\n\r\n", 4) == 0)
		buf_truncate(&tmp, tmp.len - 2);
	if (tmp.len == 2 && memcmp(tmp.data, "\r\n", 2) == 0)
		buf_truncate(&tmp, 0);
	if (tmp.len == 0 && mode == DKIM_CANON_SIMPLE)
		buf_append(&tmp, "\r\n", 2);
	buf_append(out, tmp.data ? tmp.data : "", tmp.len);
	buf_release(&wire);
	buf_release(&tmp);
}

/* next - the test's pseudo-random sequence */
static uint32_t
next(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

/*
 * differential - iters random bodies of up to max bytes from alphabet,
 * each cut at three random points: the streaming output must equal the
 * plain reference, for both algorithms.
 */
static void
differential(const char *alphabet, size_t alen, size_t max, uint32_t seed,
    int iters)
{
	char	 in[512];
	struct buf got, want;
	size_t	 cuts[3], len, t;

	assert_true(max <= sizeof(in));
	for (int iter = 0; iter < iters; iter++) {
		len = next(&seed) % max;
		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[next(&seed) % alen];
		for (size_t k = 0; k < 3; k++)
			cuts[k] = len ? next(&seed) % (len + 1) : 0;
		for (size_t k = 0; k < 3; k++)	/* sort the three cuts */
			for (size_t j = 0; j + 1 < 3 - k; j++)
				if (cuts[j] > cuts[j + 1]) {
					t = cuts[j];
					cuts[j] = cuts[j + 1];
					cuts[j + 1] = t;
				}
		for (int m = DKIM_CANON_SIMPLE; m <= DKIM_CANON_RELAXED; m++) {
			reference((enum dkim_canon)m, in, len, &want);
			canon_chunks((enum dkim_canon)m, in, len, cuts, 3, &got);
			if (got.len != want.len ||
			    memcmp(buf_str(&got), buf_str(&want), got.len) != 0)
				fail_msg("mode %d input %zu bytes differs", m,
				    len);
			buf_release(&got);
			buf_release(&want);
		}
	}
}

/* test_differential - short bodies dense in WSP, CR and LF */
static void
test_differential(void **state)
{
	static const char alphabet[] = "ab \t\r\n\n\r  x";

	(void)state;
	differential(alphabet, sizeof(alphabet) - 1, 64, 12345, 20000);
}

/*
 * test_differential_text - longer, text-like bodies (letters, single
 * spaces, line ends, the odd control or 8-bit byte), so that the
 * word-at-a-time scan meets every kind of stop at every alignment.
 */
static void
test_differential_text(void **state)
{
	static const char alphabet[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    "          \r\n\r\n\r\n\r\n\t\n\r\x01\x7f\x80\xc3\xa9";

	(void)state;
	differential(alphabet, sizeof(alphabet) - 1, 400, 99, 20000);
}

/* failing_sink - a sink that fails after some bytes */
static int
failing_sink(void *arg, const char *p, size_t n)
{
	size_t	*left = arg;

	(void)p;
	if (n > *left)
		return -1;
	*left -= n;
	return 0;
}

/* test_sink_failure - a failing sink is reported and not called again */
static void
test_sink_failure(void **state)
{
	struct canon_body cb;
	size_t	 left = 3;

	(void)state;
	canon_body_init(&cb, DKIM_CANON_RELAXED, failing_sink, &left);
	assert_int_equal(canon_body_update(&cb, "abcdef\r\n", 8), -1);
	assert_int_equal(canon_body_update(&cb, "x\r\n", 3), -1);
	assert_int_equal(canon_body_final(&cb), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_many_empty_lines),
		cmocka_unit_test(test_differential),
		cmocka_unit_test(test_differential_text),
		cmocka_unit_test(test_sink_failure),
	};

	return cmocka_run_group_tests_name("canon_body", tests, NULL, NULL);
}
