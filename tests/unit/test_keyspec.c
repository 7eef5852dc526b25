/*
 * test_keyspec.c - daemon/keyspec.c: the checks of a record the signer
 * receives (flags, roles, quota values), and what names a key (not its
 * role in a message, nor its institution's quota).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/keyspec.h"

/* good - a record that passes */
static struct keyspec
good(void)
{
	struct keyspec s;

	memset(&s, 0, sizeof(s));
	s.magic = KEYSPEC_MAGIC;
	s.alg = DKIM_ALG_RSA_SHA256;
	snprintf(s.code, sizeof(s.code), "mosa");
	snprintf(s.token_label, sizeof(s.token_label), "mosa");
	snprintf(s.pin, sizeof(s.pin), "file:/p");
	snprintf(s.key_label, sizeof(s.key_label), "mosa-stxsel1");
	s.quota = (struct quota_limits){ 5, 10, 1000 };
	return s;
}

/* test_check - a good record, and each way one is refused */
static void
test_check(void **state)
{
	static const struct {
		uint32_t flags;
		struct quota_limits q;
		const char *why;
	} cases[] = {
		{ 0, { 5, 10, 1000 }, NULL },
		{ KEYSPEC_OPTIONAL | KEYSPEC_FIRST, { 0, 0, 0 }, NULL },
		{ KEYSPEC_SECOND, { 1000000, 1000000, 1000000000 }, NULL },
		{ 0x8, { 0, 0, 0 }, "unknown flags" },
		{ KEYSPEC_FIRST | KEYSPEC_SECOND, { 0, 0, 0 }, "unknown flags" },
		{ 0, { 5, 0, 0 }, "quota out of range" },
		{ 0, { 0, 3, 0 }, "quota out of range" },
		{ 0, { 1000001, 5, 0 }, "quota out of range" },
		{ 0, { 1, 1000001, 0 }, "quota out of range" },
		{ 0, { 0, 0, 1000000001 }, "quota out of range" },
	};
	char	 err[256];
	struct keyspec s;

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		s = good();
		s.flags = cases[k].flags;
		s.quota = cases[k].q;
		err[0] = '\0';
		if (cases[k].why == NULL) {
			if (keyspec_check(&s, err, sizeof(err)) != 0)
				fail_msg("case %zu refused: %s", k, err);
		} else if (keyspec_check(&s, err, sizeof(err)) == 0 ||
		    strstr(err, cases[k].why) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", k, err,
			    cases[k].why);
	}
}

/* test_same_key - role and quota do not name a key; the rest does */
static void
test_same_key(void **state)
{
	struct keyspec a = good(), b = good();

	(void)state;
	b.flags = KEYSPEC_FIRST;
	b.quota = (struct quota_limits){ 0, 0, 0 };
	assert_true(keyspec_same_key(&a, &b));
	b.flags |= KEYSPEC_OPTIONAL;
	assert_false(keyspec_same_key(&a, &b));
	b = good();
	snprintf(b.key_label, sizeof(b.key_label), "mosa-stxsel2");
	assert_false(keyspec_same_key(&a, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_same_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
