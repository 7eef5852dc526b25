/*
 * test_conf_include.c - conf/conf_include.c: institutions in files of
 * their own, named by an `include` pattern; their errors keep their own
 * file:line; a code defined twice, or anything but an institution in an
 * included file, is refused; a pattern that matches nothing is fine; a
 * folder where a file should be is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/conf.h"

static const char head[] =
    "pkcs11-module = \"/usr/lib/softhsm/libsofthsm2.so\"\n"
    "provider-zone = \"dkim.example.net\"\n"
    "record-name = \"sel%n-%c\"\n"
    "selectors = { \"stxsel1\", \"stxsel2\" }\n"
    "state-dir = \"/var/lib/p11dkim\"\n"
    "ceremony-log = \"/var/lib/p11dkim/ceremony.log\"\n"
    "include = \"institutions.d/*.conf\"\n";

static char dir[] = "/tmp/p11dkim-include-XXXXXX";

/* put - a file under the test folder */
static void
put(const char *name, const char *text)
{
	char	 path[512];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* institution - the section of one institution */
static void
institution(const char *file, const char *code, const char *domain)
{
	char	 text[512];

	snprintf(text, sizeof(text), "institution %s {\n  domains = { \"%s\" "
	    "}\n  pin = \"file:/etc/p11dkim/%s.pin\"\n  active-selector = "
	    "\"stxsel1\"\n}\n", code, domain, code);
	put(file, text);
}

/* load - the main file */
static struct conf *
load(char *err, size_t len)
{
	char	 path[512];

	snprintf(path, sizeof(path), "%s/p11dkim.conf", dir);
	return conf_load(path, err, len);
}

static int
setup(void **state)
{
	char	 sub[512];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/p11dkim-include-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sub, sizeof(sub), "%s/institutions.d", dir);
	return mkdir(sub, 0700);
}

static int
teardown(void **state)
{
	char	 cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* institutions from several files, and from the main file */
static void
test_included(void **state)
{
	char	 text[2048], err[CONF_ERR_MAX];
	struct conf *c;

	(void)state;
	snprintf(text, sizeof(text), "%sinstitution main {\n  domains = { "
	    "\"main.example\" }\n  pin = \"/etc/p11dkim/main.pin\"\n  "
	    "active-selector = \"stxsel2\"\n}\n", head);
	put("p11dkim.conf", text);
	institution("institutions.d/b.conf", "beta", "beta.example");
	institution("institutions.d/a.conf", "alpha", "alpha.example");
	put("institutions.d/README", "not a configuration file\n");
	if ((c = load(err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->ninst, 3);
	assert_string_equal(c->inst[0].code, "main");
	assert_string_equal(c->inst[1].code, "alpha");	/* sorted */
	assert_string_equal(c->inst[2].code, "beta");
	assert_string_equal(c->inst[2].selectors[1], "stxsel2");
	conf_free(c);
}

/* an error in an included file names that file and line */
static void
test_error_in_included(void **state)
{
	char	 err[CONF_ERR_MAX];

	(void)state;
	put("p11dkim.conf", head);
	institution("institutions.d/a.conf", "alpha", "alpha.example");
	put("institutions.d/b.conf", "institution beta {\n  domains = { "
	    "\"beta.example\" }\n  pin = \"file:/p\"\n  active-selector = "
	    "\"nope\"\n}\n");
	assert_null(load(err, sizeof(err)));
	assert_non_null(strstr(err, "institutions.d/b.conf:"));
	assert_non_null(strstr(err, "nope"));
}

/* the same code in two files, or one domain twice: refused */
static void
test_defined_twice(void **state)
{
	char	 err[CONF_ERR_MAX];

	(void)state;
	put("p11dkim.conf", head);
	institution("institutions.d/a.conf", "alpha", "alpha.example");
	institution("institutions.d/b.conf", "alpha", "other.example");
	assert_null(load(err, sizeof(err)));
	assert_non_null(strstr(err, "'alpha' is defined twice"));
	institution("institutions.d/b.conf", "beta", "alpha.example");
	assert_null(load(err, sizeof(err)));
	assert_non_null(strstr(err, "alpha.example is claimed by 'alpha' and "
	    "'beta'"));
}

/* only institutions in an included file */
static void
test_only_institutions(void **state)
{
	char	 err[CONF_ERR_MAX];

	(void)state;
	put("p11dkim.conf", head);
	put("institutions.d/a.conf", "workers = 3\n");
	assert_null(load(err, sizeof(err)));
	assert_non_null(strstr(err, "institutions.d/a.conf:1:"));
}

/* a pattern that matches nothing: no institution, no error */
static void
test_no_match(void **state)
{
	char	 err[CONF_ERR_MAX], cmd[600];
	struct conf *c;

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/institutions.d/*", dir);
	assert_int_equal(system(cmd), 0);
	put("p11dkim.conf", head);
	if ((c = load(err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->ninst, 0);
	conf_free(c);
}

/*
 * a folder where a file is expected, named by the pattern or as the main
 * file: refused with the reason (libconfuse's scanner would exit the
 * process on it)
 */
static void
test_folder(void **state)
{
	char	 path[512], err[CONF_ERR_MAX];

	(void)state;
	put("p11dkim.conf", head);
	institution("institutions.d/a.conf", "alpha", "alpha.example");
	snprintf(path, sizeof(path), "%s/institutions.d/old.conf", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_null(load(err, sizeof(err)));
	assert_non_null(strstr(err, "old.conf: not a configuration file (a "
	    "folder)"));
	assert_null(conf_load(dir, err, sizeof(err)));
	if (strstr(err, "not a configuration file (a folder)") == NULL)
		fail_msg("%s", err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_included, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_in_included, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_defined_twice, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_only_institutions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
