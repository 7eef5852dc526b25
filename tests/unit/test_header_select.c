/*
 * test_header_select.c - dkim/header_select.c: RFC 6376 5.4 selection,
 * bottom-up instances (5.4.2), oversigning, wildcards, From always.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/header_select.h"

/* section - parse a header section from text */
static void
section(struct header_section *hs, const char *text)
{
	struct dkim_err err;
	size_t	 used;

	header_section_init(hs, 65536, 1000);
	assert_int_equal(header_section_feed(hs, text, strlen(text), &used,
	    &err), 0);
	assert_int_equal(header_section_end(hs, &err), 0);
}

static const char msg[] =
    "Received: r1\n"
    "From: A <a@example.org>\n"
    "To: b@example.org\n"
    "Subject: first\n"
    "List-Id: <l.example.org>\n"
    "X-Other: x\n"
    "List-Unsubscribe: <mailto:u@example.org>\n"
    "To: c@example.org\n"
    "MIME-Version: 1.0\n"
    "\n";

/* test_defaults - default list and oversigning */
static void
test_defaults(void **state)
{
	struct header_section hs;
	struct header_selection sel;
	struct dkim_err err;

	(void)state;
	section(&hs, msg);
	assert_int_equal(header_select(&hs, NULL, NULL, &sel, &err), 0);
	assert_string_equal(buf_str(&sel.hlist),
	    "from:from:reply-to:subject:subject:date:to:to:to:cc:"
	    "list-id:list-unsubscribe:message-id:mime-version");
	/* from: the field, then the oversigned extra */
	assert_int_equal(sel.fields[0], 1);
	assert_int_equal(sel.fields[1], HEADER_SELECT_NONE);
	/* to: bottom-up (field 7 before field 2), then the extra */
	assert_int_equal(sel.fields[6], 7);
	assert_int_equal(sel.fields[7], 2);
	assert_int_equal(sel.fields[8], HEADER_SELECT_NONE);
	assert_int_equal(sel.fields[10], 4);
	assert_int_equal(sel.fields[11], 6);
	assert_int_equal(sel.fields[13], 8);
	header_selection_release(&sel);
	header_section_release(&hs);
}

/* test_custom_lists - From is added; no oversigning when the list is empty */
static void
test_custom_lists(void **state)
{
	static const char *const sign[] = { "Subject", "X-*", "to", NULL };
	static const char *const none[] = { NULL };
	struct header_section hs;
	struct header_selection sel;
	struct dkim_err err;

	(void)state;
	section(&hs, msg);
	assert_int_equal(header_select(&hs, sign, none, &sel, &err), 0);
	assert_string_equal(buf_str(&sel.hlist), "from:subject:x-other:to:to");
	assert_int_equal(sel.n, 5);
	header_selection_release(&sel);
	header_section_release(&hs);
}

/* test_wildcard_and_exact - an exact entry keeps its own place */
static void
test_wildcard_and_exact(void **state)
{
	static const char *const sign[] = { "list-*", "list-id", NULL };
	static const char *const over[] = { "list-*", NULL };
	struct header_section hs;
	struct header_selection sel;
	struct dkim_err err;

	(void)state;
	section(&hs, msg);
	assert_int_equal(header_select(&hs, sign, over, &sel, &err), 0);
	assert_string_equal(buf_str(&sel.hlist),
	    "from:list-unsubscribe:list-unsubscribe:list-id:list-id");
	header_selection_release(&sel);
	header_section_release(&hs);
}

/*
 * test_names_not_in_a_tag_value - RFC 5322 lets a field name hold ';',
 * RFC 6376 3.2 does not let a tag value: such a field is never signed,
 * whether a wildcard matches it or a list names it.
 */
static void
test_names_not_in_a_tag_value(void **state)
{
	static const char *const sign[] = { "List-*", "x;y", "Subject", NULL };
	static const char *const over[] = { "x;y", "list-*", NULL };
	static const char text[] =
	    "From: a@example.org\n"
	    "List-x;l=0;zz=: foo\n"
	    "List-Id: <l.example.org>\n"
	    "X;y: z\n"
	    "Subject: s\n"
	    "\n";
	struct header_section hs;
	struct header_selection sel;
	struct dkim_err err;

	(void)state;
	section(&hs, text);
	assert_int_equal(header_select(&hs, sign, over, &sel, &err), 0);
	assert_string_equal(buf_str(&sel.hlist),
	    "from:list-id:list-id:subject");
	assert_int_equal(sel.n, 4);
	assert_int_equal(sel.fields[1], 2);
	header_selection_release(&sel);
	header_section_release(&hs);
	assert_int_equal(header_select_name_ok("List-Id", 7), 1);
	assert_int_equal(header_select_name_ok("List-x;l=0", 10), 0);
	assert_int_equal(header_select_name_ok("a:b", 3), 0);
	assert_int_equal(header_select_name_ok("a b", 3), 0);
	assert_int_equal(header_select_name_ok("a\x7f", 2), 0);
	assert_int_equal(header_select_name_ok("", 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_custom_lists),
		cmocka_unit_test(test_wildcard_and_exact),
		cmocka_unit_test(test_names_not_in_a_tag_value),
	};

	return cmocka_run_group_tests_name("header_select", tests, NULL, NULL);
}
