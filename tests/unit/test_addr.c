/*
 * test_addr.c - dkim/addr.c: the domain of From values as mailers write
 * them, and the values that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/addr.h"

/* test_domains - each value and the domain it names */
static void
test_domains(void **state)
{
	static const char *const cases[][2] = {
		{ " tickets@mosamuseum.com", "mosamuseum.com" },
		{ " Mosa Museum <tickets@MosaMuseum.COM>", "mosamuseum.com" },
		{ " \"Museum, Tickets\" <t@news.mosamuseum.com>",
		  "news.mosamuseum.com" },
		{ " \"a@b.example\" <real@venue.example.org>", "venue.example.org" },
		{ " (comment <x@evil.example>) t@mosamuseum.com (more)",
		  "mosamuseum.com" },
		{ " =?utf-8?q?Mus=C3=A9e?=\r\n <t@mosamuseum.com>",
		  "mosamuseum.com" },
		{ " <t@ mosamuseum.com >", "mosamuseum.com" },
		{ " \"quoted\\\"name\" <t@mosamuseum.com>", "mosamuseum.com" },
		{ " t(c)@(c)mosamuseum.com", "mosamuseum.com" },
	};
	char	 d[ADDR_DOMAIN_MAX + 1];
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (addr_from_domain(cases[i][0], strlen(cases[i][0]), d,
		    sizeof(d), &why) < 0)
			fail_msg("case %zu: %s", i, why);
		assert_string_equal(d, cases[i][1]);
	}
}

/* test_refusals - no domain, two addresses, broken syntax */
static void
test_refusals(void **state)
{
	static const char *const bad[][2] = {
		{ " a@x.example, b@y.example", "more than one address" },
		{ " Nobody <nobody>", "no address with a domain" },
		{ " <a@b.example", "without '>'" },
		{ " \"unclosed <a@b.example>", "not a well-formed" },
		{ " (unclosed a@b.example", "not a well-formed" },
		{ " a@", "no usable domain" },
		{ " a@bad_domain.example", "not a domain name" },
		{ "", "no address with a domain" },
	};
	char	 d[ADDR_DOMAIN_MAX + 1];
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(addr_from_domain(bad[i][0], strlen(bad[i][0]),
		    d, sizeof(d), &why), -1);
		if (strstr(why, bad[i][1]) == NULL)
			fail_msg("case %zu: '%s'", i, why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
