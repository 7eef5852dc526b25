/*
 * test_header_section.c - dkim/header_section.c: fields found in streams
 * split anywhere, CRLF and LF input, and every refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/header_section.h"

/* parse - feed in as chunks of size step (0: whole); returns feed result */
static int
parse(struct header_section *hs, const char *in, size_t len, size_t step,
    size_t *used, struct dkim_err *err)
{
	size_t	 at = 0, n, c;

	header_section_init(hs, 65536, 100);
	*used = 0;
	while (at < len && !header_section_complete(hs)) {
		n = step && len - at > step ? step : len - at;
		if (header_section_feed(hs, in + at, n, &c, err) < 0)
			return -1;
		at += c;
		*used = at;
	}
	if (!header_section_complete(hs))
		return header_section_end(hs, err);
	return 0;
}

/* field_text - the stored text of field i */
static void
assert_field(const struct header_section *hs, size_t i, const char *text,
    size_t name_len)
{
	const struct header_field *f = &hs->fields[i];

	assert_int_equal(f->len, strlen(text));
	assert_memory_equal(hs->text.data + f->off, text, f->len);
	assert_int_equal(f->name_len, name_len);
}

/* test_fields_any_split - CRLF and LF input, any chunking, same fields */
static void
test_fields_any_split(void **state)
{
	static const char *inputs[] = {
		"From: a@example.org\r\nSubject: hi\r\n\tthere\r\n"
		    "To : b@example.org\r\n\r\nbody\r\n",
		"From: a@example.org\nSubject: hi\n\tthere\n"
		    "To : b@example.org\n\nbody\n",
	};
	struct header_section hs;
	struct dkim_err err;
	size_t	 used;

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		size_t len = strlen(inputs[k]);

		for (size_t step = 0; step <= len; step++) {
			assert_int_equal(parse(&hs, inputs[k], len, step,
			    &used, &err), 0);
			assert_int_equal(used, len - (k ? 5 : 6));
			assert_int_equal(hs.nfields, 3);
			assert_field(&hs, 0, "From: a@example.org\r\n", 4);
			assert_field(&hs, 1, "Subject: hi\r\n\tthere\r\n", 7);
			assert_field(&hs, 2, "To : b@example.org\r\n", 2);
			header_section_release(&hs);
		}
	}
}

/* test_no_blank_line - a message of headers only */
static void
test_no_blank_line(void **state)
{
	struct header_section hs;
	struct dkim_err err;
	size_t	 used;

	(void)state;
	assert_int_equal(parse(&hs, "From: a@b.example\nX: y", 22, 0, &used,
	    &err), 0);
	assert_int_equal(hs.nfields, 2);
	assert_field(&hs, 1, "X: y\r\n", 1);
	header_section_release(&hs);
}

/* test_value - the last instance's raw value */
static void
test_value(void **state)
{
	struct header_section hs;
	struct dkim_err err;
	const char *v;
	size_t	 used, len;

	(void)state;
	assert_int_equal(parse(&hs, "Received: 1\nFrom: A <a@b.example>\n"
	    "received: 2\n\n", 48, 0, &used, &err), 0);
	v = header_section_value(&hs, "RECEIVED", &len);
	assert_non_null(v);
	assert_int_equal(len, 2);
	assert_memory_equal(v, " 2", 2);
	assert_int_equal(header_section_count(&hs, "received"), 2);
	assert_null(header_section_value(&hs, "cc", &len));
	header_section_release(&hs);
}

struct refusal {
	const char *in;
	size_t	 len;
	enum dkim_status status;
	const char *msg;
};

/* test_refusals - each malformed header section names its problem */
static void
test_refusals(void **state)
{
	static const struct refusal bad[] = {
		{ "From: a@b.example\r\nnot a header\r\n\r\n", 0,
		  DKIM_EMESSAGE, "header line 2: not a header field" },
		{ "From sender@b.example Mon Jan  1 00:00:00 2024\n"
		  "From: a@b.example\n\n", 0, DKIM_EMESSAGE,
		  "header line 1: not a header field" },
		{ " folded: first\r\n\r\n", 0, DKIM_EMESSAGE,
		  "header line 1: continuation line before" },
		{ "From: a@b.ex\rample\r\n\r\n", 0, DKIM_EMESSAGE,
		  "header line 1: CR not followed by LF" },
		{ "From: a@b.example\r\n\rX\r\n", 0, DKIM_EMESSAGE,
		  "header line 2: CR not followed by LF" },
		{ "From: a@b\0.example\r\n\r\n", 22, DKIM_EMESSAGE,
		  "header line 1: NUL byte" },
		{ ": no name\r\n\r\n", 0, DKIM_EMESSAGE,
		  "header line 1: not a header field" },
		{ "Bad Name: x\r\n\r\n", 0, DKIM_EMESSAGE,
		  "header line 1: not a header field" },
	};
	struct header_section hs;
	struct dkim_err err;
	size_t	 used;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);

		for (size_t step = 0; step <= 3; step++) {
			assert_int_equal(parse(&hs, bad[i].in, len, step,
			    &used, &err), -1);
			assert_int_equal(err.status, bad[i].status);
			if (strncmp(err.msg, bad[i].msg,
			    strlen(bad[i].msg)) != 0)
				fail_msg("case %zu: '%s'", i, err.msg);
			header_section_release(&hs);
		}
	}
}

/* test_limits - bytes and field count are bounded */
static void
test_limits(void **state)
{
	struct header_section hs;
	struct dkim_err err;
	char	 many[2000];
	size_t	 used, n = 0;

	(void)state;
	header_section_init(&hs, 32, 100);
	assert_int_equal(header_section_feed(&hs, "From: a@b.example\r\n"
	    "Subject: a long subject line\r\n\r\n", 51, &used, &err), -1);
	assert_int_equal(err.status, DKIM_ELIMIT);
	assert_non_null(strstr(err.msg, "32 bytes"));
	header_section_release(&hs);

	for (int i = 0; i < 101; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "X: %d\n", i);
	assert_int_equal(parse(&hs, many, n, 0, &used, &err), -1);
	assert_int_equal(err.status, DKIM_ELIMIT);
	assert_string_equal(err.msg, "more than 100 header fields");
	header_section_release(&hs);
}

/* test_feed_after_error - a failed parser stays failed */
static void
test_feed_after_error(void **state)
{
	struct header_section hs;
	struct dkim_err err;
	size_t	 used;

	(void)state;
	header_section_init(&hs, 1024, 10);
	assert_int_equal(header_section_feed(&hs, " x\r\n", 4, &used, &err),
	    -1);
	assert_int_equal(header_section_feed(&hs, "From: a@b.c\r\n", 13,
	    &used, &err), -1);
	assert_int_equal(err.status, DKIM_ESTATE);
	header_section_release(&hs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_any_split),
		cmocka_unit_test(test_no_blank_line),
		cmocka_unit_test(test_value),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_feed_after_error),
	};

	return cmocka_run_group_tests_name("header_section", tests, NULL, NULL);
}
