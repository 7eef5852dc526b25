/*
 * test_canon_header.c - dkim/canon_header.c: RFC 6376 3.4.1, 3.4.2 and
 * the header examples of 3.4.5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/canon_header.h"

struct hdr_case {
	const char *field;	/* raw, CRLF, folds kept */
	size_t	 name_len;
	const char *simple;
	const char *relaxed;
};

static const struct hdr_case cases[] = {
	/* RFC 6376 3.4.5 */
	{ "A: X\r\n", 1, "A: X\r\n", "a:X\r\n" },
	{ "B : Y\t\r\n\tZ  \r\n", 1, "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n" },
	/* name case, no space after the colon, WSP around the colon */
	{ "SuBjEcT:hello\r\n", 7, "SuBjEcT:hello\r\n", "subject:hello\r\n" },
	{ "To \t:  \t x@example.org\r\n", 2, "To \t:  \t x@example.org\r\n",
	  "to:x@example.org\r\n" },
	/* unfolding with spaces, tabs and several continuation lines */
	{ "References: <a@x>\r\n <b@x>\r\n\t<c@x>\r\n", 10,
	  "References: <a@x>\r\n <b@x>\r\n\t<c@x>\r\n",
	  "references:<a@x> <b@x> <c@x>\r\n" },
	/* trailing WSP, empty value, 8-bit UTF-8 kept */
	{ "X-Empty:   \r\n", 7, "X-Empty:   \r\n", "x-empty:\r\n" },
	{ "Subject: caf\xc3\xa9  ok \r\n", 7,
	  "Subject: caf\xc3\xa9  ok \r\n", "subject:caf\xc3\xa9 ok\r\n" },
	/* a value that begins on the next line */
	{ "Subject:\r\n  folded\r\n", 7, "Subject:\r\n  folded\r\n",
	  "subject:folded\r\n" },
};

/* canon - canonical form of a field */
static void
canon(enum dkim_canon mode, const struct hdr_case *c, struct buf *out)
{
	buf_init(out, 4096);
	assert_int_equal(canon_header(mode, c->field, strlen(c->field),
	    c->name_len, out), 0);
}

/* test_table - each case, both algorithms */
static void
test_table(void **state)
{
	struct buf out;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		canon(DKIM_CANON_SIMPLE, &cases[i], &out);
		assert_string_equal(buf_str(&out), cases[i].simple);
		buf_release(&out);
		canon(DKIM_CANON_RELAXED, &cases[i], &out);
		assert_string_equal(buf_str(&out), cases[i].relaxed);
		buf_release(&out);
	}
}

/* test_long_value - values longer than the internal chunk */
static void
test_long_value(void **state)
{
	char	 field[2000], expect[2000];
	struct buf out;
	size_t	 n;

	(void)state;
	memcpy(field, "X-Long: ", 8);
	memcpy(expect, "x-long:", 7);
	for (n = 0; n < 1500; n++) {
		field[8 + n] = (char)('a' + n % 26);
		expect[7 + n] = (char)('a' + n % 26);
	}
	memcpy(field + 8 + n, "\r\n", 3);
	memcpy(expect + 7 + n, "\r\n", 3);
	buf_init(&out, 4096);
	assert_int_equal(canon_header(DKIM_CANON_RELAXED, field,
	    strlen(field), 6, &out), 0);
	assert_string_equal(buf_str(&out), expect);
	buf_release(&out);
}

/* test_overflow - a full output buffer is an error, not a truncation */
static void
test_overflow(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 4);
	assert_int_equal(canon_header(DKIM_CANON_RELAXED, "Subject: x\r\n",
	    12, 7, &out), -1);
	buf_release(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_long_value),
		cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests_name("canon_header", tests, NULL, NULL);
}
