/*
 * test_conf.c - conf/conf.c: a valid file, and every kind of refusal
 * with its file:line.
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

#include "p11dkim/conf.h"

static const char head[] =
    "pkcs11-module = \"/usr/lib/softhsm/libsofthsm2.so\"\n"	/* 1 */
    "provider-zone = \"dkim.example.net\"\n"
    "record-name = \"sel%n-%c\"\n"
    "selectors = { \"stxsel1\", \"stxsel2\" }\n"
    "state-dir = \"/var/lib/p11dkim\"\n"			/* 5 */
    "ceremony-log = \"/var/lib/p11dkim/ceremony.log\"\n";

static const char mosa[] =
    "institution mosa {\n"					/* 7 */
    "  domains = { \"MosaMuseum.com\", \"tickets.mosamuseum.com\" }\n"
    "  pin = \"file:/etc/p11dkim/mosa.pin\"\n"
    "  active-selector = \"stxsel1\"\n"			/* 10 */
    "}\n";

/* load_text - write text to a temp file and load it */
static struct conf *
load_text(const char *text, char *err, size_t errlen)
{
	char	 path[] = "/tmp/p11dkim-conf-XXXXXX";
	int	 fd = mkstemp(path);
	struct conf *c;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	c = conf_load(path, err, errlen);
	unlink(path);
	return c;
}

/* test_valid - every value read, defaults applied */
static void
test_valid(void **state)
{
	char	 text[4096], err[CONF_ERR_MAX], name[256];
	const struct conf_institution *i;
	struct conf *c;

	(void)state;
	snprintf(text, sizeof(text), "%s%s", head, mosa);
	c = load_text(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->provider_zone, "dkim.example.net");
	assert_int_equal(c->ninst, 1);
	i = conf_institution(c, "mosa");
	assert_non_null(i);
	assert_string_equal(i->domains[0], "mosamuseum.com");
	assert_string_equal(i->token_label, "mosa");
	assert_null(i->token_serial);
	assert_string_equal(i->selectors[1], "stxsel2");
	assert_int_equal(i->alg, DKIM_ALG_RSA_SHA256);
	assert_string_equal(i->key_type, "rsa2048");
	assert_int_equal(conf_selector_index(i, "stxsel2"), 1);
	assert_int_equal(conf_selector_index(i, "other"), -1);
	assert_int_equal(conf_record_name(c, i, 1, name, sizeof(name)), 0);
	assert_string_equal(name, "sel2-mosa._domainkey.dkim.example.net");
	assert_int_equal(conf_key_label(i, 0, name, sizeof(name)), 0);
	assert_string_equal(name, "mosa-stxsel1");
	assert_null(conf_institution(c, "other"));
	conf_free(c);
}

struct bad {
	const char *extra;	/* appended to head + mosa */
	const char *replace;	/* or: the whole file */
	const char *msg;	/* expected start of the error, after the path */
};

/* test_refusals - each error names the file and the line */
static void
test_refusals(void **state)
{
	static const struct bad bad[] = {
		{ "colour = \"red\"\n", NULL, ":12: no such option 'colour'" },
		{ "institution x {\n domains = {\"a.example\"}\n pin = \"prompt\"\n"
		  " active-selector = \"stxsel3\"\n}\n", NULL,
		  ":16: institution 'x': active-selector 'stxsel3' is not one" },
		{ "institution y {\n domains = {\"not a domain\"}\n}\n", NULL,
		  ":13: domains 'not a domain': not a domain name" },
		{ "institution z {\n domains = {\"z.example\"}\n active-selector"
		  " = \"stxsel1\"\n}\n", NULL, ":15: institution 'z': pin is "
		  "required" },
		{ "institution w {\n domains = {\"mosamuseum.com\"}\n pin = "
		  "\"prompt\"\n active-selector = \"stxsel1\"\n}\n", NULL,
		  ": domain mosamuseum.com is claimed by 'mosa' and 'w'" },
		{ "institution v {\n domains = {\"v.example\"}\n pin = "
		  "\"prompt\"\n active-selector = \"stxsel1\"\n algorithm = "
		  "\"rsa-sha1\"\n}\n", NULL, ":16: algorithm 'rsa-sha1': "
		  "algorithm rsa-sha1 is not allowed" },
		{ "institution Bad_Code {\n domains = {\"b.example\"}\n pin = "
		  "\"prompt\"\n active-selector = \"stxsel1\"\n}\n", NULL,
		  ":16: institution 'Bad_Code': the code must be" },
		{ "institution u {\n domains = {\"u.example\"}\n pin = "
		  "\"secret\"\n}\n", NULL, ":14: pin 'secret': not file:/PATH" },
		{ "institution mosa {\n}\n", NULL, ":12: found duplicate title" },
		{ NULL, "provider-zone = \"dkim.example.net\"\n", ": pkcs11-module "
		  "is required" },
		{ NULL, "record-name = \"sel-%c\"\n", ":1: record-name 'sel-%c': "
		  "needs %c and %n" },
		{ "institution t {\n subdomains = \"perhaps\"\n}\n", NULL,
		  ":13: invalid boolean value for option 'subdomains'" },
	};
	char	 text[4096], err[CONF_ERR_MAX];

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		if (bad[k].replace != NULL)
			snprintf(text, sizeof(text), "%s", bad[k].replace);
		else
			snprintf(text, sizeof(text), "%s%s%s", head, mosa,
			    bad[k].extra);
		err[0] = '\0';
		assert_null(load_text(text, err, sizeof(err)));
		if (strstr(err, bad[k].msg) == NULL ||
		    strncmp(err, "/tmp/p11dkim-conf-", 18) != 0)
			fail_msg("case %zu: '%s' lacks '%s'", k, err,
			    bad[k].msg);
	}
}

/* test_missing_file - a clear line, no crash */
static void
test_missing_file(void **state)
{
	char	 err[CONF_ERR_MAX];

	(void)state;
	assert_null(conf_load("/nonexistent/p11dkim.conf", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/p11dkim.conf: cannot read the "
	    "file");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
