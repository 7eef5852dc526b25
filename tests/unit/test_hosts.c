/*
 * test_hosts.c - conf/hosts.c: internal-host lists and prefixes, and
 * whether one list lies inside another.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <cmocka.h>

#include "p11dkim/hosts.h"

/* v4 - a sockaddr for an IPv4 address */
static struct sockaddr_in
v4(const char *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	assert_int_equal(inet_pton(AF_INET, s, &a.sin_addr), 1);
	return a;
}

/* v6 - a sockaddr for an IPv6 address */
static struct sockaddr_in6
v6(const char *s)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };

	assert_int_equal(inet_pton(AF_INET6, s, &a.sin6_addr), 1);
	return a;
}

/* test_match - addresses, prefixes, v4-mapped v6 */
static void
test_match(void **state)
{
	static const char *const list[] = { "127.0.0.1", "10.1.0.0/16",
	    "::1", "2001:db8::/32", "192.168.7.5/31" };
	char	 err[128];
	struct hosts *h = hosts_parse(list, 5, err, sizeof(err));
	struct sockaddr_in a;
	struct sockaddr_in6 b;

	(void)state;
	assert_non_null(h);
	a = v4("127.0.0.1");
	assert_true(hosts_match(h, (struct sockaddr *)&a));
	a = v4("127.0.0.2");
	assert_false(hosts_match(h, (struct sockaddr *)&a));
	a = v4("10.1.200.3");
	assert_true(hosts_match(h, (struct sockaddr *)&a));
	a = v4("10.2.0.1");
	assert_false(hosts_match(h, (struct sockaddr *)&a));
	a = v4("192.168.7.4");
	assert_true(hosts_match(h, (struct sockaddr *)&a));
	a = v4("192.168.7.6");
	assert_false(hosts_match(h, (struct sockaddr *)&a));
	b = v6("::1");
	assert_true(hosts_match(h, (struct sockaddr *)&b));
	b = v6("2001:db8:1::5");
	assert_true(hosts_match(h, (struct sockaddr *)&b));
	b = v6("2001:db9::5");
	assert_false(hosts_match(h, (struct sockaddr *)&b));
	b = v6("::ffff:127.0.0.1");
	assert_true(hosts_match(h, (struct sockaddr *)&b));
	assert_false(hosts_match(h, NULL));
	assert_false(hosts_match(NULL, (struct sockaddr *)&b));
	hosts_free(h);
}

/* within - parse two lists and ask hosts_within */
static int
within(const char *const *inner, size_t ni, const char *const *outer,
    size_t no)
{
	char	 err[128];
	struct hosts *i = hosts_parse(inner, ni, err, sizeof(err));
	struct hosts *o = hosts_parse(outer, no, err, sizeof(err));
	int	 rc;

	assert_non_null(i);
	assert_non_null(o);
	rc = hosts_within(i, o);
	hosts_free(i);
	hosts_free(o);
	return rc;
}

/* test_within - networks inside others: prefix, length, family */
static void
test_within(void **state)
{
	static const char *const outer[] = { "127.0.0.1", "10.1.0.0/16",
	    "2001:db8::/32" };
	static const char *const in[] = { "127.0.0.1", "10.1.2.0/24",
	    "10.1.255.7", "2001:db8:5::/48", "10.1.0.0/16" };
	static const char *const out[] = { "127.0.0.2", "10.0.0.0/8",
	    "10.2.0.0/24", "::1", "2001:db9::/48", "127.0.0.0/24" };

	(void)state;
	assert_true(within(in, 5, outer, 3));
	for (size_t k = 0; k < sizeof(out) / sizeof(out[0]); k++)
		if (within(&out[k], 1, outer, 3))
			fail_msg("%s taken as inside", out[k]);
	assert_false(within(in, 1, outer, 0));
	assert_true(within(in, 0, outer, 0));
}

/* test_bad - entries that are not addresses */
static void
test_bad(void **state)
{
	static const char *const bad[] = { "localhost", "10.0.0.0/33",
	    "::1/129", "1.2.3.4/", "1.2.3" };
	char	 err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(hosts_parse(&bad[i], 1, err, sizeof(err)));
		assert_non_null(strstr(err, "not an address"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_within),
	};

	return cmocka_run_group_tests_name("hosts", tests, NULL, NULL);
}
