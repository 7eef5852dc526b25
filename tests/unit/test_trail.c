/*
 * test_trail.c - daemon/trail.c, the trail's writer, in a mkdtemp(3)
 * folder: one file per institution, one line per record; at most
 * 2 * open_max files open however many institutions write; a renamed file
 * and trail_reopen() start a new file without losing a record; a file
 * that cannot be opened fails with the reason and writes nothing; the
 * every-record sync policy; threads writing at once keep lines whole.
 */
#include <dirent.h>
#include <pthread.h>
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

#include "p11dkim/trail.h"
#include "tmpdir_fixture.h"

static char dir[64];

/* setup - an empty folder */
static int
setup(void **state)
{
	(void)state;
	return tmpdir_new(dir, sizeof(dir), "trail");
}

/* teardown - the folder and what is in it */
static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* record - a record of institution code, numbered n (in its size) */
static void
record(struct trail_record *r, const char *code, unsigned n)
{
	memset(r, 0, sizeof(*r));
	r->t = 1796315102;
	r->size = n;
	snprintf(r->inst, sizeof(r->inst), "%s", code);
	snprintf(r->front, sizeof(r->front), "native");
	snprintf(r->client, sizeof(r->client), "uid=1000");
	memset(r->bhash, 'a', TRAIL_BHASH_LEN);
}

/* lines - the whole records in a file of the folder; -1: none */
static long
lines(const char *name)
{
	char	 path[128], line[TRAIL_LINE_MAX];
	struct trail_record r;
	long	 n = 0;
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (trail_parse(line, strlen(line), &r) == 0)
			n++;
		else
			n = -1000000;	/* a line that is not a record */
	fclose(f);
	return n;
}

/* open_fds - descriptors open in this process */
static int
open_fds(void)
{
	DIR	*d = opendir("/proc/self/fd");
	int	 n = 0;

	while (d != NULL && readdir(d) != NULL)
		n++;
	if (d != NULL)
		closedir(d);
	return n;
}

/*
 * test_bounded_files - 20 institutions, 3 files open at most, and 3
 * more closed that wait for the sync thread (every 5 s: not yet)
 */
static void
test_bounded_files(void **state)
{
	char	 err[256], code[16], name[32];
	struct trail_record r;
	struct trail *t;
	int	 base;

	(void)state;
	base = open_fds();
	t = trail_new(dir, 5, 3, err, sizeof(err));
	assert_non_null(t);
	for (unsigned round = 0; round < 4; round++)
		for (unsigned i = 0; i < 20; i++) {
			snprintf(code, sizeof(code), "inst%u", i);
			record(&r, code, round);
			assert_int_equal(trail_write(t, &r, err, sizeof(err)), 0);
			assert_true(open_fds() <= base + 1 + 2 * 3);
		}
	trail_free(t);
	assert_int_equal(open_fds(), base);
	for (unsigned i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "inst%u.trail", i);
		assert_int_equal(lines(name), 4);
	}
}

/* test_reopen - renamed, reopened: old records stay, new ones go anew */
static void
test_reopen(void **state)
{
	char	 err[256], from[128], to[128];
	struct trail_record r;
	struct trail *t = trail_new(dir, 0, 4, err, sizeof(err));
	struct stat st;

	(void)state;
	assert_non_null(t);
	record(&r, "mosa", 1);
	assert_int_equal(trail_write(t, &r, err, sizeof(err)), 0);
	snprintf(from, sizeof(from), "%s/mosa.trail", dir);
	snprintf(to, sizeof(to), "%s/mosa.trail.1", dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(trail_write(t, &r, err, sizeof(err)), 0);
	assert_int_equal(lines("mosa.trail.1"), 2);	/* until reopened */
	trail_reopen(t);
	assert_int_equal(trail_write(t, &r, err, sizeof(err)), 0);
	assert_int_equal(lines("mosa.trail.1"), 2);
	assert_int_equal(lines("mosa.trail"), 1);
	assert_int_equal(stat(from, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	trail_free(t);
}

/* test_unwritable - a file that cannot be opened: the reason, nothing */
static void
test_unwritable(void **state)
{
	char	 err[256], path[128];
	struct trail_record r;
	struct trail *t = trail_new(dir, 0, 4, err, sizeof(err));

	(void)state;
	assert_non_null(t);
	snprintf(path, sizeof(path), "%s/venue.trail", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	record(&r, "venue", 1);
	assert_int_equal(trail_write(t, &r, err, sizeof(err)), -1);
	assert_string_equal(err, "signing trail: cannot write venue.trail: "
	    "Is a directory");
	record(&r, "../x", 1);
	assert_int_equal(trail_write(t, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot be written"));
	record(&r, "mosa", 1);
	assert_int_equal(trail_write(t, &r, err, sizeof(err)), 0);
	trail_free(t);
	assert_null(trail_new("/nonexistent/trail", 1, 4, err, sizeof(err)));
	assert_string_equal(err, "signing trail folder /nonexistent/trail: No "
	    "such file or directory");
}

struct writer {
	struct trail *t;
	unsigned id;
	int	 failed;
};

/* writer - 200 records, over 6 institutions, from one thread */
static void *
writer(void *arg)
{
	struct writer *w = arg;
	struct trail_record r;
	char	 code[16], err[256];

	for (unsigned i = 0; i < 200; i++) {
		snprintf(code, sizeof(code), "i%u", (i + w->id) % 6);
		record(&r, code, i);
		if (trail_write(w->t, &r, err, sizeof(err)) < 0)
			w->failed++;
	}
	return NULL;
}

/* test_threads - 4 threads, 2 files open: every line whole, none lost */
static void
test_threads(void **state)
{
	char	 err[256], name[32];
	struct writer w[4];
	pthread_t th[4];
	long	 total = 0;

	(void)state;
	w[0].t = trail_new(dir, 1, 2, err, sizeof(err));
	assert_non_null(w[0].t);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct writer){ w[0].t, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, writer, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failed, 0);
	}
	trail_reopen(w[0].t);
	trail_free(w[0].t);
	for (unsigned i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "i%u.trail", i);
		total += lines(name);
	}
	assert_int_equal(total, 800);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bounded_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
