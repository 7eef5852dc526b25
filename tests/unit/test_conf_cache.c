/*
 * test_conf_cache.c - conf/conf_cache.c: a reload reads only the included
 * files that changed, and sees every change: a file rewritten with the
 * same size and its mtime set back to the nanosecond, a file replaced by
 * another (rename), a removed file, a new one; a change to the main file
 * reads everything again; an error in a changed file keeps its
 * file:line; what needs the whole set (a code or a domain twice) is
 * checked at every reading; configurations outlive the cache; a file
 * changed just before a reading is read again at the next one.
 *
 * File times move in steps of a few milliseconds: the tests trust a key
 * as soon as the reading began after the change (conf_cache_racy_ms 0)
 * and let 20 ms pass after each write, so that each write has a ctime
 * of its own.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11dkim/conf.h"
#include "../../conf/conf_int.h"
#include "tmpdir_fixture.h"

static const char head[] =
    "pkcs11-module = \"/usr/lib/softhsm/libsofthsm2.so\"\n"
    "provider-zone = \"dkim.example.net\"\n"
    "record-name = \"sel%n-%c\"\n"
    "selectors = { \"stxsel1\", \"stxsel2\" }\n"
    "state-dir = \"/var/lib/p11dkim\"\n"
    "ceremony-log = \"/var/lib/p11dkim/ceremony.log\"\n"
    "include = \"institutions.d/*.conf\"\n";

static char dir[64];

/* path_of - a file under the test folder */
static const char *
path_of(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* put - a file under the test folder, written in place; 20 ms later */
static void
put(const char *name, const char *text)
{
	struct timespec later = { 0, 20 * 1000 * 1000 };

	tmpdir_write(path_of(name), text, 0644);
	nanosleep(&later, NULL);
}

/* new_cache - a cache that trusts a key once the reading is later */
static struct conf_cache *
new_cache(void)
{
	struct conf_cache *cc = conf_cache_new();

	assert_non_null(cc);
	conf_cache_racy_ms(cc, 0);
	return cc;
}

/* institution - a file with one institution of one domain */
static void
institution(const char *file, const char *code, const char *domain)
{
	char	 text[512];

	snprintf(text, sizeof(text), "institution %s {\n  domains = { \"%s\" "
	    "}\n  pin = \"file:/etc/p11dkim/%s.pin\"\n  active-selector = "
	    "\"stxsel1\"\n}\n", code, domain, code);
	put(file, text);
}

/* load - the main file, through the cache; reused and parsed counts */
static struct conf *
load(struct conf_cache *cc, size_t *reused, size_t *parsed)
{
	char	 err[CONF_ERR_MAX];
	struct conf *c = conf_load_cached(path_of("p11dkim.conf"), cc, err,
	    sizeof(err));

	if (c == NULL)
		fail_msg("%s", err);
	conf_cache_counts(cc, reused, parsed);
	return c;
}

/* domain_of - the first domain of the institution with this code */
static const char *
domain_of(const struct conf *c, const char *code)
{
	const struct conf_institution *i = conf_institution(c, code);

	return i != NULL ? i->domains[0] : NULL;
}

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_new(dir, sizeof(dir), "cache") < 0)
		return -1;
	if (mkdir(path_of("institutions.d"), 0700) < 0)
		return -1;
	put("p11dkim.conf", head);
	institution("institutions.d/a.conf", "alpha", "alpha.example");
	institution("institutions.d/b.conf", "beta", "beta.example");
	institution("institutions.d/c.conf", "gamma", "gamma.example");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* a second reading takes every unchanged file from the cache */
static void
test_unchanged(void **state)
{
	struct conf_cache *cc = new_cache();
	struct conf *c1, *c2;
	size_t	 reused, parsed;

	(void)state;
	c1 = load(cc, &reused, &parsed);
	assert_int_equal(reused, 0);
	assert_int_equal(parsed, 3);
	c2 = load(cc, &reused, &parsed);
	assert_int_equal(reused, 3);
	assert_int_equal(parsed, 0);
	assert_int_equal(c2->ninst, 3);
	assert_string_equal(domain_of(c2, "beta"), "beta.example");
	assert_string_equal(c2->inst[2].selectors[1], "stxsel2");
	/* both outlive the cache, in either order */
	conf_cache_free(cc);
	conf_free(c1);
	assert_string_equal(domain_of(c2, "gamma"), "gamma.example");
	conf_free(c2);
}

/*
 * rewritten in place with the same size, its mtime set back to what it
 * was (to the nanosecond): the ctime shows the change
 */
static void
test_same_size_same_mtime(void **state)
{
	struct conf_cache *cc = new_cache();
	struct timespec times[2];
	struct conf *c;
	struct stat st;
	size_t	 reused, parsed;

	(void)state;
	conf_free(load(cc, &reused, &parsed));
	assert_int_equal(stat(path_of("institutions.d/b.conf"), &st), 0);
	institution("institutions.d/b.conf", "beta", "betb.example");
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path_of("institutions.d/b.conf"),
	    times, 0), 0);
	c = load(cc, &reused, &parsed);
	assert_int_equal(parsed, 1);
	assert_int_equal(reused, 2);
	assert_string_equal(domain_of(c, "beta"), "betb.example");
	conf_free(c);
	conf_cache_free(cc);
}

/* replaced by rename (another inode), removed, added */
static void
test_replaced_removed_added(void **state)
{
	struct conf_cache *cc = new_cache();
	struct conf *c;
	char	 from[512];
	size_t	 reused, parsed;

	(void)state;
	conf_free(load(cc, &reused, &parsed));
	institution("institutions.d/new.tmp", "alpha", "alphb.example");
	snprintf(from, sizeof(from), "%s", path_of("institutions.d/new.tmp"));
	assert_int_equal(rename(from, path_of("institutions.d/a.conf")), 0);
	assert_int_equal(unlink(path_of("institutions.d/c.conf")), 0);
	institution("institutions.d/d.conf", "delta", "delta.example");
	c = load(cc, &reused, &parsed);
	assert_int_equal(parsed, 2);	/* a and d */
	assert_int_equal(reused, 1);	/* b */
	assert_int_equal(c->ninst, 3);
	assert_string_equal(domain_of(c, "alpha"), "alphb.example");
	assert_null(conf_institution(c, "gamma"));
	assert_string_equal(domain_of(c, "delta"), "delta.example");
	conf_free(c);
	/* c.conf back with the same content: read, not taken from before */
	institution("institutions.d/c.conf", "gamma", "gamma.example");
	c = load(cc, &reused, &parsed);
	assert_int_equal(parsed, 1);
	assert_non_null(conf_institution(c, "gamma"));
	conf_free(c);
	conf_cache_free(cc);
}

/* a change to the main file reads every file again */
static void
test_main_changed(void **state)
{
	char	 text[1024];
	struct conf_cache *cc = new_cache();
	struct conf *c;
	size_t	 reused, parsed;

	(void)state;
	conf_free(load(cc, &reused, &parsed));
	snprintf(text, sizeof(text), "%srate = 5\n", head);
	put("p11dkim.conf", text);
	c = load(cc, &reused, &parsed);
	assert_int_equal(parsed, 3);
	assert_int_equal(reused, 0);
	assert_int_equal(conf_institution(c, "alpha")->quota.rate, 5);
	conf_free(c);
	conf_cache_free(cc);
}

/*
 * an error in a changed file: its file:line, the cache still good for
 * the next reading once it is fixed; a code or a domain that a changed
 * file takes from an unchanged one is refused
 */
static void
test_errors(void **state)
{
	char	 err[CONF_ERR_MAX];
	struct conf_cache *cc = new_cache();
	struct conf *c;
	size_t	 reused, parsed;

	(void)state;
	conf_free(load(cc, &reused, &parsed));
	put("institutions.d/b.conf", "institution beta {\n  domains = { "
	    "\"beta.example\" }\n  pin = \"file:/p\"\n  active-selector = "
	    "\"nope\"\n}\n");
	assert_null(conf_load_cached(path_of("p11dkim.conf"), cc, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "institutions.d/b.conf:"));
	assert_non_null(strstr(err, "nope"));
	institution("institutions.d/b.conf", "alpha", "other.example");
	assert_null(conf_load_cached(path_of("p11dkim.conf"), cc, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "'alpha' is defined twice"));
	institution("institutions.d/b.conf", "beta", "gamma.example");
	assert_null(conf_load_cached(path_of("p11dkim.conf"), cc, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "gamma.example is claimed by"));
	institution("institutions.d/b.conf", "beta", "beta.example");
	c = load(cc, &reused, &parsed);
	assert_int_equal(parsed, 1);
	assert_int_equal(reused, 2);
	assert_int_equal(c->ninst, 3);
	conf_free(c);
	conf_cache_free(cc);
}

/* a file changed within the default 2 s of a reading is read again */
static void
test_racy(void **state)
{
	struct conf_cache *cc = conf_cache_new();
	size_t	 reused, parsed;

	(void)state;
	conf_free(load(cc, &reused, &parsed));
	conf_free(load(cc, &reused, &parsed));
	assert_int_equal(parsed, 3);
	assert_int_equal(reused, 0);
	conf_cache_free(cc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unchanged, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_same_size_same_mtime,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_removed_added,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_main_changed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_racy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
