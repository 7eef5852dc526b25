/*
 * test_keytab.c - daemon/keytab.c: the key table of a configuration
 * (one entry per institution, a second one for a dual-signing one), the
 * institution for a domain, and the signer's check of what a front asks
 * for: a key number and an algorithm number, as received.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/keyspec.h"
#include "p11dkim/keytab.h"

static const char conf_text[] =
    "pkcs11-module = \"/x.so\"\nprovider-zone = \"dkim.example.net\"\n"
    "record-name = \"sel%n-%c\"\nselectors = { \"stxsel1\", \"stxsel2\" }\n"
    "dual-record-name = \"ed%n-%c\"\n"
    "dual-selectors = { \"stxed1\", \"stxed2\" }\n"
    "state-dir = \"/nonexistent\"\nceremony-log = \"/nonexistent/log\"\n"
    "institution mosa {\n domains = { \"mosamuseum.com\" }\n"
    " pin = \"prompt\"\n active-selector = \"stxsel2\"\n}\n"
    "institution venue {\n domains = { \"venue.example.org\" }\n"
    " subdomains = true\n pin = \"prompt\"\n active-selector = \"stxsel1\"\n"
    " algorithm = \"ed25519-sha256\"\n key-type = \"ed25519\"\n}\n"
    "institution gala {\n domains = { \"gala.example.net\" }\n"
    " pin = \"prompt\"\n active-selector = \"stxsel1\"\n dual-sign = true\n}\n";

struct rig {
	struct conf *conf;
	struct keytab keys;
};

/* setup - the configuration above and its table */
static int
setup(void **state)
{
	char	 path[] = "/tmp/p11dkim-keytab-XXXXXX", err[CONF_ERR_MAX];
	struct rig *g = calloc(1, sizeof(*g));
	int	 fd = mkstemp(path);

	assert_non_null(g);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, conf_text, sizeof(conf_text) - 1),
	    sizeof(conf_text) - 1);
	close(fd);
	g->conf = conf_load(path, err, sizeof(err));
	unlink(path);
	if (g->conf == NULL)
		fail_msg("%s", err);
	if (keytab_build(g->conf, &g->keys, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	*state = g;
	return 0;
}

/* teardown - free what setup made */
static int
teardown(void **state)
{
	struct rig *g = *state;

	keytab_release(&g->keys);
	conf_free(g->conf);
	free(g);
	return 0;
}

/* test_entries - one entry per institution, the dual one right after */
static void
test_entries(void **state)
{
	const struct keytab *t = &((struct rig *)*state)->keys;

	assert_int_equal(t->n, 4);
	assert_string_equal(t->e[0].key_label, "mosa-stxsel2");
	assert_int_equal(t->e[0].alg, DKIM_ALG_RSA_SHA256);
	assert_string_equal(t->e[1].key_label, "venue-stxsel1");
	assert_int_equal(t->e[1].alg, DKIM_ALG_ED25519_SHA256);
	assert_string_equal(t->e[2].key_label, "gala-stxsel1");
	assert_int_equal(t->e[2].dual, 3);
	assert_string_equal(t->e[3].key_label, "gala-stxed1");
	assert_int_equal(t->e[3].alg, DKIM_ALG_ED25519_SHA256);
	assert_int_equal(t->e[3].dual, KEYTAB_NONE);
}

/* test_for_domain - exact domains, subdomains where allowed, else none */
static void
test_for_domain(void **state)
{
	const struct keytab *t = &((struct rig *)*state)->keys;
	const char *d = NULL;
	uint32_t k = 99;

	assert_ptr_equal(keytab_for_domain(t, "mosamuseum.com", &k, &d), &t->e[0]);
	assert_int_equal(k, 0);
	assert_ptr_equal(keytab_for_domain(t, "mx.venue.example.org", &k, &d),
	    &t->e[1]);
	assert_string_equal(d, "venue.example.org");
	assert_null(keytab_for_domain(t, "mx.mosamuseum.com", &k, &d));
	assert_null(keytab_for_domain(t, "example.net", &k, &d));
}

/*
 * test_request_check - a key number and an algorithm number as a front
 * sends them, checked against the specs the signer receives (keyspec.c):
 * the table's pairs pass; a refusal names what was asked
 * for, an algorithm number the protocol does not have included
 */
static void
test_request_check(void **state)
{
	static const struct {
		uint32_t key, alg;
		const char *why;	/* NULL: passes */
	} cases[] = {
		{ 0, DKIM_ALG_RSA_SHA256, NULL },
		{ 1, DKIM_ALG_ED25519_SHA256, NULL },
		{ 2, DKIM_ALG_RSA_SHA256, NULL },
		{ 3, DKIM_ALG_ED25519_SHA256, NULL },
		{ 0, DKIM_ALG_ED25519_SHA256, "key 0 is not for ed25519-sha256" },
		{ 3, DKIM_ALG_RSA_SHA256, "key 3 is not for rsa-sha256" },
		{ 4, DKIM_ALG_RSA_SHA256, "no key number 4" },
		{ UINT32_MAX, DKIM_ALG_RSA_SHA256, "no key number 4294967295" },
		{ 0, 0, "no algorithm number 0" },
		{ 1, 7, "no algorithm number 7" },
		{ 2, UINT32_MAX, "no algorithm number 4294967295" },
	};
	const struct keytab *t = &((struct rig *)*state)->keys;
	struct keyspec *specs;
	char	 why[192];
	int	 rc;

	if (keyspec_build(t, &specs, why, sizeof(why)) < 0)
		fail_msg("keyspec_build: %s", why);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		rc = keyspec_request_check(cases[i].key < t->n ?
		    &specs[cases[i].key] : NULL, cases[i].key, cases[i].alg,
		    why, sizeof(why));
		if (cases[i].why == NULL && rc != 0)
			fail_msg("case %zu refused: %s", i, why);
		if (cases[i].why != NULL && (rc != -1 ||
		    strcmp(why, cases[i].why) != 0))
			fail_msg("case %zu: rc %d, '%s', not '%s'", i, rc, why,
			    cases[i].why);
	}
	free(specs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_for_domain),
		cmocka_unit_test(test_request_check),
	};

	return cmocka_run_group_tests_name("keytab", tests, setup, teardown);
}
